"""`ClaimIdentity` and `VerifyClaim`: "I'm ana@example.com", proven by a one-time code.

The code goes through the claimed identifier's own channel: an email to the address, an
SMS or WhatsApp message to the phone (the exact address its owner last wrote from). Until
the code comes back, the claimant learns nothing: the answer to a claim is the same whether
the identifier belongs to someone, to nobody, or is unknown.

An order number ("my order is TL-48213") can be claimed too when the order belongs to another
customer: the code goes to that customer's most recent verified WhatsApp, SMS or email
address, and the claimant only sees it masked ("a•••@example.com").

Limits: a code lives 10 minutes, allows 5 attempts (counted atomically before comparing),
a new claim replaces the customer's pending one, and a customer may start at most
`MAX_CLAIMS_PER_HOUR` claims (each one sends a message to somebody).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import ChannelIdentity, IdentityClaim, Order
from threadline.crm.models.base import utcnow
from threadline.identity import directory
from threadline.identity.addresses import EMAIL, Identifier, claimed_identifier
from threadline.identity.index import IdentityIndex
from threadline.identity.link import link_identity
from threadline.identity.merge import MergeCustomers, MergeResult
from threadline.identity.ports import CodeSender

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CLAIMS_PER_HOUR = 3
CODE_DIGITS = 6
ORDER = "order"
CODE_CHANNELS = ("whatsapp", "sms", "email")


class ClaimRefused(ValueError):
    """Too many claims in the last hour."""


class NothingToClaim(ValueError):
    """The identifier is already this customer's, or (an order) nobody else's: no code needed."""


class ClaimUnreachable(ValueError):
    """The order's owner has no verified WhatsApp, SMS or email address to send a code to."""


@dataclass(frozen=True)
class ClaimStarted:
    claim_id: int
    kind: str  # "email" | "phone": where the customer should look for the code
    expires_at: datetime
    sent_to: str = ""  # the destination, masked: "a•••@example.com", "•••• 4321"


def mask(channel: str, address: str) -> str:
    """Enough of an address for its holder to recognise it, too little to learn it."""
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    digits = "".join(c for c in address if c.isdigit())
    return f"•••• {digits[-4:]}"


def order_identifier(order_id: str) -> Identifier:
    return Identifier(ORDER, order_id.strip().upper())


def claim_owner(session: Session, identifier: Identifier) -> Optional[str]:
    """Who holds the identifier now: an order's customer, or a verified identifier's owner."""
    if identifier.kind != ORDER:
        return directory.owner_of(session, identifier.key)
    order = session.get(Order, identifier.value)
    if order is None or order.customer_id is None:
        return None
    return directory.canonical_customer(session, order.customer_id)


@dataclass(frozen=True)
class ClaimOutcome:
    status: str  # verified | wrong_code | expired | locked | no_claim
    attempts_left: int = 0
    customer_id: Optional[str] = None  # the customer id from now on (only when verified)
    merge: Optional[MergeResult] = None


def _hash(code: str, salt: str) -> str:
    return salt + "$" + hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _matches(code: str, stored: str) -> bool:
    salt, _, _ = stored.partition("$")
    return hmac.compare_digest(_hash(code.strip(), salt), stored)


def _destination(session: Session, identifier: Identifier, owner: Optional[str]) -> tuple:
    """(channel, exact address) that reaches the identifier's real holder."""
    if identifier.kind == EMAIL:
        return "email", identifier.value
    if identifier.kind == ORDER:
        return _latest_contact(session, owner)
    if owner is not None:
        rows = session.execute(select(ChannelIdentity).where(
            ChannelIdentity.customer_id == owner, ChannelIdentity.key == identifier.key,
            ChannelIdentity.verified.is_(True), ChannelIdentity.channel.in_(("whatsapp", "sms")),
        )).scalars().all()
        if rows:
            best = max(rows, key=lambda r: (r.last_seen_at or datetime.min, r.id))
            return best.channel, best.address
    return "sms", identifier.value


def _latest_contact(session: Session, owner: str) -> tuple:
    """The owner's verified (channel, address) they used last, imported ones last."""
    rows = [r for r in directory.identities_of(session, owner) if r.verified and r.channel in CODE_CHANNELS]
    if not rows:
        raise ClaimUnreachable("the order's customer has no address a code can be sent to")
    best = max(rows, key=lambda r: (r.last_seen_at is not None, r.last_seen_at or datetime.min, r.id))
    if best.channel == "email":  # the mailbox itself, without a display name
        return "email", Identifier.from_key(best.key).value
    return best.channel, best.address


class ClaimIdentity:
    def __init__(self, db: Database, sender: CodeSender, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.sender, self.clock = db, sender, clock

    async def __call__(self, customer_id: str, claimed: str) -> ClaimStarted:
        """`claimed` is what the customer typed (an email or an international phone number).
        Raises InvalidAddress when it is neither, ClaimRefused when over the hourly limit,
        NothingToClaim when it is already theirs."""
        return await self._start(customer_id, claimed_identifier(claimed))

    async def order(self, customer_id: str, order_id: str) -> ClaimStarted:
        """Claim an order that belongs to another customer. Raises NothingToClaim when the
        order is unknown, unowned or already theirs, ClaimUnreachable when its owner has no
        address to send a code to."""
        return await self._start(customer_id, order_identifier(order_id))

    async def _start(self, customer_id: str, identifier: Identifier) -> ClaimStarted:
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        started, channel, address = await self.db.run(lambda s: self._store(s, customer_id, identifier, code))
        try:
            await self.sender.send_code(channel, address, code)
        except BaseException:
            await self.db.run(lambda s: s.execute(
                update(IdentityClaim).where(IdentityClaim.id == started.claim_id).values(status="failed")))
            raise
        return started

    def _store(self, session: Session, customer_id: str, identifier: Identifier, code: str):
        customer_id = directory.canonical_customer(session, customer_id)
        now = self.clock()
        recent = session.query(IdentityClaim).filter(
            IdentityClaim.customer_id == customer_id, IdentityClaim.created_at > now - timedelta(hours=1)).count()
        if recent >= MAX_CLAIMS_PER_HOUR:
            raise ClaimRefused("too many identity claims in the last hour")
        session.execute(update(IdentityClaim).where(
            IdentityClaim.customer_id == customer_id, IdentityClaim.status == "pending").values(status="replaced"))
        owner = claim_owner(session, identifier)
        if owner == customer_id or (owner is None and identifier.kind == ORDER):
            raise NothingToClaim("nothing to prove")
        channel, address = _destination(session, identifier, owner)
        if owner is None:
            # A claim that matches nobody is kept as a claimed (unverified) identity.
            exists = session.query(ChannelIdentity).filter_by(customer_id=customer_id, key=identifier.key).first()
            if exists is None:
                session.add(ChannelIdentity(customer_id=customer_id, channel=channel, address=address,
                                            key=identifier.key, verified=False, source="claim", created_at=now))
        claim = IdentityClaim(customer_id=customer_id, key=identifier.key, code_hash=_hash(code, secrets.token_hex(8)),
                              expires_at=now + CODE_LIFETIME, attempts=0, status="pending", created_at=now)
        session.add(claim)
        session.flush()
        kind = "email" if channel == "email" else "phone"
        return ClaimStarted(claim.id, kind, claim.expires_at, mask(channel, address)), channel, address


class VerifyClaim:
    """Checks a typed code; on success links the identifier or merges with its owner.

    The merge needs the claimant's conversation lock. Inside a Rasa turn that lock is held
    by Rasa itself, so actions pass `defer_merge=True`: the merge then runs in the
    background as soon as the turn releases the lock (see docs/identity.md).
    """

    def __init__(self, db: Database, index: IdentityIndex, merge: MergeCustomers,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.index, self.merge, self.clock = db, index, merge, clock
        self._background: set = set()

    async def __call__(self, customer_id: str, code: str, *, defer_merge: bool = False) -> ClaimOutcome:
        outcome, claim_id, claim_key, owner = await self.db.run(lambda s: self._check(s, customer_id, code))
        if outcome.status != "verified":
            return outcome
        claimant = outcome.customer_id
        if owner is None:
            if claim_key:  # an order claim links nothing: its owner went away meanwhile
                await self.index.assign({claim_key: claimant})
            return outcome
        # The identifier's holder proved it's them: one person. The record that owned the
        # identifier survives; the claimant's id becomes its alias.
        merge = self.merge(owner, claimant, actor=f"customer:{claimant}",
                           reason=f"verified one-time code for claim #{claim_id}")
        if defer_merge:
            task = asyncio.create_task(merge)
            self._background.add(task)
            task.add_done_callback(self._finished)
            return ClaimOutcome("verified", 0, owner)
        result = await merge
        return ClaimOutcome("verified", 0, result.customer_id, result)

    async def settle(self) -> None:
        """Wait for deferred merges still running (call before shutting down)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deferred merge after a verified claim failed: %r", task.exception())

    def _check(self, session: Session, customer_id: str, code: str):
        customer_id = directory.canonical_customer(session, customer_id)
        claim = session.execute(select(IdentityClaim).where(
            IdentityClaim.customer_id == customer_id, IdentityClaim.status == "pending",
        ).order_by(IdentityClaim.id.desc())).scalars().first()
        if claim is None:
            return ClaimOutcome("no_claim"), None, None, None
        if self.clock() >= claim.expires_at:
            claim.status = "expired"
            return ClaimOutcome("expired"), claim.id, None, None
        # Count the attempt first, atomically: concurrent guesses can't exceed the limit.
        counted = session.execute(update(IdentityClaim).where(
            IdentityClaim.id == claim.id, IdentityClaim.status == "pending",
            IdentityClaim.attempts < MAX_ATTEMPTS).values(attempts=IdentityClaim.attempts + 1))
        if counted.rowcount != 1:
            return ClaimOutcome("locked"), claim.id, None, None
        session.refresh(claim)
        if not _matches(code, claim.code_hash):
            left = MAX_ATTEMPTS - claim.attempts
            if left <= 0:
                claim.status = "failed"
                return ClaimOutcome("locked"), claim.id, None, None
            return ClaimOutcome("wrong_code", left), claim.id, None, None
        claim.status = "verified"
        identifier = Identifier.from_key(claim.key)
        owner = claim_owner(session, identifier)
        if identifier.kind == ORDER and owner in (None, customer_id):
            return ClaimOutcome("verified", 0, customer_id), claim.id, None, None
        if owner is None or owner == customer_id:
            channel, address = _destination(session, identifier, None)
            link_identity(session, customer_id, identifier, channel, address, actor=f"customer:{customer_id}",
                          reason=f"verified one-time code for claim #{claim.id}", source="claim")
            return ClaimOutcome("verified", 0, customer_id), claim.id, claim.key, None
        return ClaimOutcome("verified", 0, customer_id), claim.id, claim.key, owner
