"""`SignInVisitor`: a widget presented a site token; the conversation becomes that user's.

The site vouched for `sub` (and for the `email`/`phone` it put in the signed token, never
for anything typed into the chat): the customer owning `u.<sub>` gets those identities
linked (`LinkIdentities`); one that already belongs to another customer (the person wrote on
WhatsApp before) means both are the same person, so they are merged (`MergeCustomers`, the
older customer survives, as the one with the channel history). Last, the anonymous visitor
of this browser is merged into the verified customer, and its widget transcript with it.
Every step is audited by the identity operations, with actor `webchat`.
"""
from __future__ import annotations

import logging
from typing import Optional

from connectors.webchat.tokens import SiteClaims
from connectors.webchat.transcript import WebchatTranscript
from threadline.identity.addresses import InvalidAddress
from threadline.identity.link import IdentityOwnedElsewhere
from threadline.identity.merge import AlreadyOneCustomer
from threadline.identity.services import IdentityServices

log = logging.getLogger(__name__)
ACTOR = "webchat"


class SignInVisitor:
    def __init__(self, services: IdentityServices, transcript: WebchatTranscript) -> None:
        self.services = services
        self.transcript = transcript

    async def __call__(self, claims: SiteClaims, visitor_address: Optional[str]) -> str:
        """The verified customer's id (canonical after the merges)."""
        resolver = self.services.resolver
        customer_id = await resolver.resolve("webchat", claims.address)
        for channel, address in (("email", claims.email), ("sms", claims.phone)):
            if address:
                customer_id = await self._join(customer_id, channel, address)
        if visitor_address:
            visitor_id = await resolver.resolve("webchat", visitor_address)
            customer_id = await self._merge(customer_id, visitor_id, "web chat visitor signed in")
        return customer_id

    async def _join(self, customer_id: str, channel: str, address: str) -> str:
        resolver = self.services.resolver
        try:
            owner = await resolver.owner(channel, address)
        except InvalidAddress:
            log.warning("webchat: the site token's %s is not a valid address; ignored", channel)
            return customer_id
        if owner is None:
            try:
                result = await self.services.link()(customer_id, channel, address, actor=ACTOR,
                                                    reason="verified by the site's signed token")
                return result.customer_id
            except IdentityOwnedElsewhere:  # someone took it meanwhile: the same person, merge
                owner = await resolver.owner(channel, address)
        if owner is None or owner == customer_id:
            return customer_id
        # The owner wrote first (on that channel): it keeps its id and history.
        return await self._merge(owner, customer_id, f"site token vouches for the customer's {channel}")

    async def _merge(self, survivor_id: str, merged_id: str, reason: str) -> str:
        if survivor_id == merged_id:
            return survivor_id
        try:
            result = await self.services.merge()(survivor_id, merged_id, actor=ACTOR, reason=reason)
        except AlreadyOneCustomer:
            return await self.services.resolver.canonical(survivor_id)
        moved = await self.transcript.absorb(result.merged_id, result.customer_id)
        log.info("webchat: customer %s merged into %s (%s; %d chat entries moved)",
                 result.merged_id, result.customer_id, reason, moved)
        return result.customer_id
