"""`IdentityResolver`: what every connector calls before Rasa sees a message.

    resolver = IdentityResolver.from_env()
    customer_id = await resolver.resolve("whatsapp", "5511987654321", attributes={"user_id": "BR.1"})
    await resolver.reply_address(customer_id, "whatsapp")   # → "5511987654321"

A known address costs one Redis round trip (a Lua script that looks the identifier up,
follows merge aliases and records the route). The CRM is written only on first contact and
when the customer's route changes (new address or another channel).
"""
from __future__ import annotations

from typing import Optional

from threadline.crm import Database
from threadline.crm.models.base import utcnow
from threadline.crm.opt_outs import clear_opt_out, record_opt_out
from threadline.identity import directory
from threadline.identity.addresses import identifier_for, identifiers_for, unverified_identifier_for
from threadline.identity.index import IdentityIndex
from threadline.settings import Settings


def redis_url_from_env() -> str:
    """REDIS_URL, or (unset) the project-local Redis that `make run` starts."""
    return Settings.from_env().effective_redis_url


class ResolveCustomer:
    """(channel, address, attributes) → customer id; creates the customer on first contact."""

    def __init__(self, db: Database, index: IdentityIndex) -> None:
        self.db = db
        self.index = index

    async def __call__(self, channel: str, address: str, *, profile_name: Optional[str] = None,
                       attributes: Optional[dict] = None, verified: bool = True) -> str:
        identifiers = (identifiers_for(channel, address, attributes) if verified
                       else [unverified_identifier_for(channel, address)])
        keys = [i.key for i in identifiers]
        hit = await self.index.lookup_and_touch(keys, channel, address)
        if hit is not None and not hit.unindexed_extras:
            if hit.route_changed:
                await self._mirror_route(hit.customer_id, identifiers[0], channel, address)
            return hit.customer_id
        # Unknown to the index (first contact, a new WhatsApp user_id, or an index rebuilt
        # from scratch): the CRM decides, with a retry if another worker creates concurrently.
        customer_id, owners = await self.db.run(
            lambda s: directory.find_or_create_for_inbound(s, identifiers, channel, address, profile_name),
            retry_conflicts=True,
        )
        await self.index.assign(owners)
        await self.index.touch(customer_id, channel, address)
        return customer_id

    async def _mirror_route(self, customer_id: str, identifier, channel: str, address: str) -> None:
        try:
            await self.db.run(lambda s: directory.record_route(s, customer_id, identifier, channel, address),
                              retry_conflicts=True)
        except Exception:
            # Leave the route "unseen" so the next message retries the CRM write.
            await self.index.forget_route(customer_id, channel)
            raise


class IdentityResolver:
    """Public API used by connectors, output channels and actions."""

    def __init__(self, db: Database, index: IdentityIndex) -> None:
        self.db = db
        self.index = index
        self._resolve = ResolveCustomer(db, index)

    @classmethod
    def from_env(cls) -> "IdentityResolver":
        return cls(Database.from_env(), IdentityIndex.from_url(redis_url_from_env()))

    async def resolve(self, channel: str, address: str, *, profile_name: Optional[str] = None,
                      attributes: Optional[dict] = None, verified: bool = True) -> str:
        """channel in {"whatsapp","instagram","sms","email"}; address exactly as the provider gave
        it. Returns the customer id, creating the customer on first contact (exactly once under
        concurrency), following merge aliases, and records this (channel, address) as the
        customer's latest inbound route. Raises `InvalidAddress` for an unusable address.

        `verified=False` (email whose From no trusted server vouched for): the unverified contact
        of that address, never the customer who owns the address itself."""
        return await self._resolve(channel, address, profile_name=profile_name, attributes=attributes,
                                   verified=verified)

    async def canonical(self, customer_id: str) -> str:
        """The customer that holds this id's conversation now (after merges)."""
        return await self.index.canonical(customer_id)

    async def owner(self, channel: str, address: str) -> Optional[str]:
        """The customer that owns the verified identifier of (channel, address) now, or None."""
        key = identifier_for(channel, address).key
        owner = await self.db.run(lambda s: directory.owner_of(s, key))
        return await self.index.canonical(owner) if owner else None

    async def reply_address(self, customer_id: str, channel: str) -> Optional[str]:
        """The exact provider address to send to on that channel (the one they last wrote from)."""
        customer_id = await self.index.canonical(customer_id)
        channels, _ = await self.index.routes(customer_id)
        if channel in channels:
            return channels[channel]
        try:
            return await self.db.run(lambda s: directory.reachable_address(s, customer_id, channel))
        except directory.UnknownCustomer:
            return None

    async def latest_route(self, customer_id: str) -> Optional[tuple]:
        """(channel, address) the customer used most recently."""
        customer_id = await self.index.canonical(customer_id)
        channels, latest = await self.index.routes(customer_id)
        if latest and latest in channels:
            return latest, channels[latest]

        def from_crm(session):
            try:
                routes = directory.routes_of(session, directory.canonical_customer(session, customer_id))
            except directory.UnknownCustomer:
                return None
            newest = max(routes, key=lambda r: r.seen_ms, default=None)
            return (newest.channel, newest.address) if newest else None

        return await self.db.run(from_crm)

    async def record_consent(self, customer_id: str, channel: str, opted_out: bool, source: str) -> None:
        """The customer's STOP (or START) on `channel`, in the CRM, where proactive messages read it."""
        def work(session) -> None:
            canonical = directory.canonical_customer(session, customer_id)
            if opted_out:
                record_opt_out(session, canonical, channel, source, utcnow())
            else:
                clear_opt_out(session, canonical, channel)
        await self.db.run(work, retry_conflicts=True)

    async def language(self, customer_id: str) -> Optional[str]:
        """The customer's language ("en", "pt"), None when not known (or not a customer)."""
        customer_id = await self.index.canonical(customer_id)
        try:
            return await self.db.run(lambda s: directory.language_of(s, customer_id))
        except directory.UnknownCustomer:
            return None

    async def close(self) -> None:
        await self.index.close()
        self.db.dispose()
