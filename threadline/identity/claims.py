"""`ClaimIdentity` and `VerifyClaim`: "I'm ana@example.com", proven by a one-time code.

The code goes through the claimed identifier's own channel: an email to the address, an
SMS or WhatsApp message to the phone (the exact address its owner last wrote from). Until
the code comes back, the claimant learns nothing: the answer to a claim is the same whether
the identifier belongs to someone, to nobody, or is unknown.

An order number ("my order is TL-48213") can be claimed too: the code goes to its owner's most
recent verified WhatsApp, SMS or email address. The claimant is told the same neutral thing
whether the order exists, has an owner who can be reached, or not; only the owner's code
proves anything.

Limits: a code lives 10 minutes, allows 5 attempts (counted atomically before comparing),
a new claim replaces the customer's pending one, and `claim_limits.ClaimLimits` caps the
codes per target address, per claimant and overall, and the countries phone codes go to.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional, Tuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import ChannelIdentity, IdentityClaim, Order
from threadline.crm.models.base import utcnow
from threadline.identity import directory
from threadline.identity.addresses import EMAIL, PHONE, Identifier, claimed_identifier
from threadline.identity.claim_limits import PHONE_COUNTRY, ClaimLimits, ClaimRefused, refuse
from threadline.identity.index import IdentityIndex
from threadline.identity.link import link_identity
from threadline.identity.merge import MergeCustomers, MergeResult
from threadline.identity.merge_jobs import MergeJobs, enqueue
from threadline.identity.ports import CodeSender

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
CODE_DIGITS = 6
ORDER = "order"
CODE_CHANNELS = ("whatsapp", "sms", "email")


class NothingToClaim(ValueError):
    """The identifier (or the order) is already this customer's: no code needed."""


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
    if owner is not None:
        rows = session.execute(select(ChannelIdentity).where(
            ChannelIdentity.customer_id == owner, ChannelIdentity.key == identifier.key,
            ChannelIdentity.verified.is_(True), ChannelIdentity.channel.in_(("whatsapp", "sms")),
        )).scalars().all()
        if rows:
            best = max(rows, key=lambda r: (r.last_seen_at or datetime.min, r.id))
            return best.channel, best.address
    return "sms", identifier.value


def _latest_contact(session: Session, owner: str) -> Optional[Tuple[str, str, str]]:
    """The owner's verified (channel, address, identifier key) they used last, imported ones
    last; None when they have no address a code can go to."""
    rows = [r for r in directory.identities_of(session, owner) if r.verified and r.channel in CODE_CHANNELS]
    if not rows:
        return None
    best = max(rows, key=lambda r: (r.last_seen_at is not None, r.last_seen_at or datetime.min, r.id))
    if best.channel == "email":  # the mailbox itself, without a display name
        return "email", Identifier.from_key(best.key).value, best.key
    return best.channel, best.address, best.key


class ClaimIdentity:
    def __init__(self, db: Database, sender: CodeSender, limits: ClaimLimits,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.sender, self.limits, self.clock = db, sender, limits, clock

    async def __call__(self, customer_id: str, claimed: str, language: Optional[str] = None) -> ClaimStarted:
        """`claimed` is what the customer typed (an email or an international phone number);
        `language` the claimant's, for the code's message. Raises InvalidAddress when it is
        neither, ClaimRefused when a limit or the phone's country does not allow a code,
        NothingToClaim when it is already theirs."""
        identifier = claimed_identifier(claimed)
        if identifier.kind == PHONE:
            self.limits.check_phone(identifier.value)
        claimant, owner, (channel, address) = await self.db.run(lambda s: self._plan(s, customer_id, identifier))
        await self.limits.admit(self.clock(), claimant=claimant, target=identifier.key)
        code = _new_code()
        claim_id, expires_at = await self.db.run(
            lambda s: self._store(s, claimant, identifier, code, unmatched=None if owner else (channel, address)))
        await self._send(claim_id, channel, address, code, language)
        return ClaimStarted(claim_id, "email" if channel == "email" else "phone", expires_at, mask(channel, address))

    async def order(self, customer_id: str, order_id: str, language: Optional[str] = None) -> None:
        """Claim another customer's order: a code to its owner's latest verified contact.
        Returns the same (nothing) whether the owner can be reached or was refused a code, so
        the claimant learns nothing about them; each case is logged. Raises NothingToClaim
        when the order is theirs, nobody's, or unknown (the customer may just be telling us
        their order number), ClaimRefused when the claimant's or the overall limit is reached."""
        identifier = order_identifier(order_id)
        claimant, destination = await self.db.run(lambda s: self._plan_order(s, customer_id, identifier))
        # Every order claim counts and leaves one pending claim, code sent or not: neither the
        # limits nor what the next typed code gets may tell orders apart.
        await self.limits.admit(self.clock(), claimant=claimant)
        code = _new_code()
        await self.db.run(lambda s: self._store(s, claimant, identifier, code))
        if destination is None:
            log.info("order claim sends no code: the order's owner has no reachable contact")
            return
        channel, address, key = destination
        try:
            target = Identifier.from_key(key)
            if channel != "email":
                if target.kind != PHONE:
                    refuse(PHONE_COUNTRY)
                self.limits.check_phone(target.value)
            await self.limits.admit(self.clock(), target=key)
        except ClaimRefused:
            return  # logged by `refuse`
        try:
            await self.sender.send_code(channel, address, code, language)
        except Exception as error:  # the claim stays pending, as when nothing was sent
            log.warning("order claim code not sent: %s", error.__class__.__name__)

    async def _send(self, claim_id: int, channel: str, address: str, code: str, language: Optional[str]) -> None:
        try:
            await self.sender.send_code(channel, address, code, language)
        except BaseException:
            await self.db.run(lambda s: s.execute(
                update(IdentityClaim).where(IdentityClaim.id == claim_id).values(status="failed")))
            raise

    @staticmethod
    def _plan(session: Session, customer_id: str, identifier: Identifier):
        claimant = directory.canonical_customer(session, customer_id)
        owner = claim_owner(session, identifier)
        if owner == claimant:
            raise NothingToClaim("nothing to prove")
        return claimant, owner, _destination(session, identifier, owner)

    @staticmethod
    def _plan_order(session: Session, customer_id: str, identifier: Identifier):
        claimant = directory.canonical_customer(session, customer_id)
        owner = claim_owner(session, identifier)
        if owner in (claimant, None):
            raise NothingToClaim("nothing to prove")
        return claimant, _latest_contact(session, owner)

    def _store(self, session: Session, claimant: str, identifier: Identifier, code: str,
               unmatched: Optional[Tuple[str, str]] = None) -> Tuple[int, datetime]:
        """The new pending claim (id, expiry); `unmatched`: the (channel, address) of a claimed
        identifier nobody holds, kept as the claimant's claimed (unverified) identity."""
        now = self.clock()
        _replace_pending(session, claimant)
        if unmatched is not None:
            exists = session.query(ChannelIdentity).filter_by(customer_id=claimant, key=identifier.key).first()
            if exists is None:
                channel, address = unmatched
                session.add(ChannelIdentity(customer_id=claimant, channel=channel, address=address,
                                            key=identifier.key, verified=False, source="claim", created_at=now))
        claim = IdentityClaim(customer_id=claimant, key=identifier.key, code_hash=_hash(code, secrets.token_hex(8)),
                              expires_at=now + CODE_LIFETIME, attempts=0, status="pending", created_at=now)
        session.add(claim)
        session.flush()
        return claim.id, claim.expires_at


def _replace_pending(session: Session, claimant: str) -> None:
    session.execute(update(IdentityClaim).where(
        IdentityClaim.customer_id == claimant, IdentityClaim.status == "pending").values(status="replaced"))


def _new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


class VerifyClaim:
    """Checks a typed code; on success links the identifier or merges with its owner.

    The merge is a durable job (threadline/identity/merge_jobs.py) written in the transaction
    that marks the claim verified. It needs the claimant's conversation lock; inside a Rasa
    turn that lock is held by Rasa itself, so actions pass `defer_merge=True`: the job then
    runs in the background as soon as the turn releases the lock, and if this process ends
    first, the action server's sweep runs it after the restart (see docs/identity.md).
    """

    def __init__(self, db: Database, index: IdentityIndex, merge: MergeCustomers,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.index, self.clock = db, index, clock
        self.jobs = MergeJobs(db, merge, clock)
        self._background: set = set()

    async def __call__(self, customer_id: str, code: str, *, defer_merge: bool = False) -> ClaimOutcome:
        outcome, claim_key, owner, job_id = await self.db.run(lambda s: self._check(s, customer_id, code))
        if outcome.status != "verified":
            return outcome
        claimant = outcome.customer_id
        if owner is None:
            if claim_key:  # an order claim links nothing: its owner went away meanwhile
                await self.index.assign({claim_key: claimant})
            return outcome
        # The identifier's holder proved it's them: one person. The record that owned the
        # identifier survives; the claimant's id becomes its alias.
        if defer_merge:
            task = asyncio.create_task(self.jobs.run(job_id))
            self._background.add(task)
            task.add_done_callback(self._finished)
            return ClaimOutcome("verified", 0, owner)
        ran = await self.jobs.run(job_id)
        return ClaimOutcome("verified", 0, ran.merge.customer_id if ran.merge else owner, ran.merge)

    async def settle(self) -> None:
        """Wait for deferred merges still running (call before shutting down)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("merge job after a verified claim did not run (the sweep retries it): %r",
                      task.exception())

    def _check(self, session: Session, customer_id: str, code: str):
        customer_id = directory.canonical_customer(session, customer_id)
        claim = session.execute(select(IdentityClaim).where(
            IdentityClaim.customer_id == customer_id, IdentityClaim.status == "pending",
        ).order_by(IdentityClaim.id.desc())).scalars().first()
        if claim is None:
            return ClaimOutcome("no_claim"), None, None, None
        if self.clock() >= claim.expires_at:
            claim.status = "expired"
            return ClaimOutcome("expired"), None, None, None
        # Count the attempt first, atomically: concurrent guesses can't exceed the limit.
        counted = session.execute(update(IdentityClaim).where(
            IdentityClaim.id == claim.id, IdentityClaim.status == "pending",
            IdentityClaim.attempts < MAX_ATTEMPTS).values(attempts=IdentityClaim.attempts + 1))
        if counted.rowcount != 1:
            return ClaimOutcome("locked"), None, None, None
        session.refresh(claim)
        if not _matches(code, claim.code_hash):
            left = MAX_ATTEMPTS - claim.attempts
            if left <= 0:
                claim.status = "failed"
                return ClaimOutcome("locked"), None, None, None
            return ClaimOutcome("wrong_code", left), None, None, None
        claim.status = "verified"
        identifier = Identifier.from_key(claim.key)
        owner = claim_owner(session, identifier)
        if identifier.kind == ORDER and owner in (None, customer_id):
            return ClaimOutcome("verified", 0, customer_id), None, None, None
        if owner is None or owner == customer_id:
            channel, address = _destination(session, identifier, None)
            link_identity(session, customer_id, identifier, channel, address, actor=f"customer:{customer_id}",
                          reason=f"verified one-time code for claim #{claim.id}", source="claim")
            return ClaimOutcome("verified", 0, customer_id), claim.key, None, None
        job_id = enqueue(session, owner, customer_id, actor=f"customer:{customer_id}",
                         reason=f"verified one-time code for claim #{claim.id}", claim_id=claim.id)
        return ClaimOutcome("verified", 0, customer_id), claim.key, owner, job_id
