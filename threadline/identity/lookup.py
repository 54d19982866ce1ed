"""Read-only views of a customer for operators (`bin/threadline customer`) and the console."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from threadline.crm.models import AuditEntry, Customer, CustomerAlias
from threadline.crm.open_items import open_items
from threadline.identity import audit, directory
from threadline.identity.addresses import EMAIL_UNVERIFIED, Identifier, identifier_for


def find_by_address(session: Session, channel: str, address: str) -> Optional[str]:
    """The customer owning (channel, address), without creating anyone."""
    return directory.owner_of(session, identifier_for(channel, address).key)


def _identity(row) -> dict:
    # An unverified email sender's identity routes its own replies, but proves nothing.
    unverified_sender = Identifier.from_key(row.key).kind == EMAIL_UNVERIFIED
    described = {"channel": row.channel, "address": row.address,
                 "verified": bool(row.verified) and not unverified_sender, "source": row.source}
    if unverified_sender:
        described["unverified_sender"] = True
    return described


def describe(session: Session, customer_id: str) -> dict:
    customer_id = directory.canonical_customer(session, customer_id)
    customer = session.get(Customer, customer_id)
    aliases = session.execute(select(CustomerAlias.alias_id).where(CustomerAlias.customer_id == customer_id)).scalars()
    return {
        "customer_id": customer_id,
        "display_name": customer.display_name,
        "external_id": customer.external_id,
        "aliases": sorted(aliases),
        "identities": [_identity(r) for r in directory.identities_of(session, customer_id)],
        "open_items": open_items(session, customer_id),
    }


def audit_trail(session: Session, customer_id: Optional[str] = None, limit: int = 50) -> list:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if customer_id:
        query = query.where(or_(AuditEntry.customer_id == customer_id, AuditEntry.other_customer_id == customer_id))
    return [audit.as_dict(e) for e in session.execute(query).scalars()]
