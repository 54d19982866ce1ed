"""CRM queries and writes about customers and their identities (blocking; run via Database.run).

Every function takes an open session inside a transaction. They are the only code that
decides ownership in the CRM, so the rules live here once:
- a verified identifier has at most one owner (`identifier_owners` primary key);
- a customer merged into another is followed to the one it was merged into;
- claimed (unverified) identities are stored but never match or receive messages;
- an unverified email contact (it owns an `email_unverified:` identifier) is answered, but is
  never linked or merged: nothing proves who writes its mail.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.crm.db import ConcurrentChange
from threadline.crm.models import ChannelIdentity, Customer, IdentifierOwner
from threadline.crm.models.base import utcnow
from threadline.identity.addresses import EMAIL_UNVERIFIED, Identifier
from threadline.identity.index import Route

log = logging.getLogger(__name__)
MAX_MERGE_HOPS = 16


class UnknownCustomer(LookupError):
    pass


class UnverifiedContact(ValueError):
    """The customer is an unverified email contact: it cannot be linked or merged."""


def new_customer_id() -> str:
    return "cus_" + secrets.token_hex(10)


def canonical_customer(session: Session, customer_id: str) -> str:
    """Follow merges to the customer that holds this id's history now."""
    for _ in range(MAX_MERGE_HOPS):
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise UnknownCustomer(customer_id)
        if customer.merged_into is None:
            return customer.id
        customer_id = customer.merged_into
    raise RuntimeError(f"merge chain too long at {customer_id}")


def owner_of(session: Session, key: str) -> Optional[str]:
    owner = session.get(IdentifierOwner, key)
    return canonical_customer(session, owner.customer_id) if owner else None


def is_unverified_contact(session: Session, customer_id: str) -> bool:
    """Whether the customer holds an unverified sender's identifier (docs/email.md)."""
    return session.execute(select(IdentifierOwner.key).where(
        IdentifierOwner.customer_id == customer_id,
        IdentifierOwner.key.startswith(f"{EMAIL_UNVERIFIED}:", autoescape=True)).limit(1)).first() is not None


def refuse_unverified_contact(session: Session, *customer_ids: str) -> None:
    for customer_id in customer_ids:
        if is_unverified_contact(session, customer_id):
            raise UnverifiedContact(f"{customer_id} is an unverified email contact: it is never linked or merged")


def create_customer(session: Session, *, display_name: Optional[str] = None,
                    external_id: Optional[str] = None) -> Customer:
    customer = Customer(id=new_customer_id(), display_name=display_name, external_id=external_id,
                        created_at=utcnow())
    session.add(customer)
    session.flush()
    return customer


def add_verified_identity(session: Session, customer_id: str, identifier: Identifier, channel: str,
                          address: str, source: str, seen: Optional[datetime]) -> ChannelIdentity:
    """Give `customer_id` the identifier (owner row) and a verified channel identity row.

    Raises IntegrityError or ConcurrentChange when someone else got the identifier first
    (the caller's transaction is then retried and sees the winner).
    """
    owner = session.get(IdentifierOwner, identifier.key)
    if owner is None:
        session.add(IdentifierOwner(key=identifier.key, customer_id=customer_id, created_at=utcnow()))
        session.flush()
    elif canonical_customer(session, owner.customer_id) != customer_id:
        raise ConcurrentChange(f"identifier now owned by {owner.customer_id}")
    row = session.execute(
        select(ChannelIdentity).where(
            ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == channel,
            ChannelIdentity.key == identifier.key,
        )
    ).scalars().first()
    if row is None:
        row = ChannelIdentity(customer_id=customer_id, channel=channel, address=address,
                              key=identifier.key, verified=True, source=source, created_at=utcnow())
        session.add(row)
    row.verified = True
    if seen is not None:
        row.address = address
        row.last_seen_at = seen
    session.flush()
    return row


def find_or_create_for_inbound(session: Session, identifiers: list, channel: str, address: str,
                               profile_name: Optional[str]) -> tuple[str, dict]:
    """The customer an inbound message is from, creating them on first contact.

    Returns (customer id, {identifier key: owner} to put in the index). The address's own
    identifier decides; an extra one (WhatsApp `user_id`) only decides when the address is
    new. Identifiers owned by someone else are never re-assigned: that would be a merge.
    """
    owners = {i.key: owner_of(session, i.key) for i in identifiers}
    customer_id = owners[identifiers[0].key] or next((o for o in owners.values() if o), None)
    if customer_id is None:
        customer_id = create_customer(session, display_name=profile_name).id
    now = utcnow()
    for position, identifier in enumerate(identifiers):
        owner = owners[identifier.key]
        if owner not in (None, customer_id):
            log.warning("identity conflict: an identifier of this message belongs to another customer; not merged")
            continue
        # Only the address the message came from is a route; an extra id is stored beside it.
        primary = position == 0
        add_verified_identity(session, customer_id, identifier, channel, address if primary else identifier.value,
                              source=f"inbound:{channel}", seen=now if primary else None)
    return customer_id, {i.key: customer_id for i in identifiers if owners[i.key] in (None, customer_id)}


def record_route(session: Session, customer_id: str, identifier: Identifier, channel: str, address: str) -> None:
    """The customer just wrote from (channel, address): remember it as their latest route."""
    if owner_of(session, identifier.key) != customer_id:
        return  # the index was stale (an unlink moved it); the next miss repairs it
    add_verified_identity(session, customer_id, identifier, channel, address,
                          source=f"inbound:{channel}", seen=utcnow())


def identities_of(session: Session, customer_id: str) -> list:
    return list(session.execute(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.created_at, ChannelIdentity.id)
    ).scalars())


def routes_of(session: Session, customer_id: str) -> list:
    """Per channel, the verified address the customer last wrote from."""
    latest: dict = {}
    for row in identities_of(session, customer_id):
        if not row.verified or row.last_seen_at is None:
            continue
        if row.channel not in latest or row.last_seen_at >= latest[row.channel].last_seen_at:
            latest[row.channel] = row
    return [Route(r.channel, r.address, int(r.last_seen_at.replace(tzinfo=timezone.utc).timestamp() * 1000)) for r in latest.values()]


def reachable_address(session: Session, customer_id: str, channel: str) -> Optional[str]:
    """A verified address on `channel`, the most recently used first (imported ones last)."""
    rows = [r for r in identities_of(session, canonical_customer(session, customer_id))
            if r.verified and r.channel == channel]
    rows.sort(key=lambda r: (r.last_seen_at is not None, r.last_seen_at or datetime.min, r.id))
    return rows[-1].address if rows else None


def language_of(session: Session, customer_id: str) -> Optional[str]:
    """The language the customer is answered in (customers.language), None until one is known."""
    return session.get(Customer, canonical_customer(session, customer_id)).language


def owned_keys(session: Session, customer_id: str) -> list:
    return list(session.execute(
        select(IdentifierOwner.key).where(IdentifierOwner.customer_id == customer_id)
    ).scalars())


def all_owners(session: Session) -> Iterable[tuple]:
    return session.execute(select(IdentifierOwner.key, IdentifierOwner.customer_id)).all()
