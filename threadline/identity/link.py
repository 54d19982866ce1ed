"""`LinkIdentities`: an operator (or a verified claim) gives a customer a verified identity.

Linking never takes an identifier away from another customer: if someone else owns it, the
two records are the same person only after a merge (`MergeCustomers`), which is explicit.
`UndoLink` removes what a link added.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import ChannelIdentity, IdentifierOwner
from threadline.identity import audit, directory
from threadline.identity.addresses import Identifier, identifier_for
from threadline.identity.index import IdentityIndex


class IdentityOwnedElsewhere(ValueError):
    """The identifier belongs to another customer; merging is a separate, explicit step."""


@dataclass(frozen=True)
class LinkResult:
    audit_id: int
    customer_id: str
    key: str


def link_identity(session: Session, customer_id: str, identifier: Identifier, channel: str, address: str,
                  *, actor: str, reason: str, source: str) -> LinkResult:
    """Blocking core shared by LinkIdentities and VerifyClaim."""
    customer_id = directory.canonical_customer(session, customer_id)
    directory.refuse_unverified_contact(session, customer_id)
    owner = directory.owner_of(session, identifier.key)
    if owner not in (None, customer_id):
        raise IdentityOwnedElsewhere(f"{channel} {address} belongs to {owner}; merge the customers instead")
    created_owner = owner is None
    existing = session.query(ChannelIdentity).filter_by(
        customer_id=customer_id, channel=channel, key=identifier.key).first()
    previously_verified = bool(existing and existing.verified)
    row = directory.add_verified_identity(session, customer_id, identifier, channel, address, source=source, seen=None)
    entry = audit.record(session, "link", actor, reason, customer_id, undo={
        "identity_id": row.id, "created_row": existing is None, "was_verified": previously_verified,
        "created_owner": created_owner, "key": identifier.key,
    })
    return LinkResult(entry.id, customer_id, identifier.key)


class LinkIdentities:
    def __init__(self, db: Database, index: IdentityIndex) -> None:
        self.db, self.index = db, index

    async def __call__(self, customer_id: str, channel: str, address: str, *, actor: str, reason: str) -> LinkResult:
        identifier = identifier_for(channel, address)
        result = await self.db.run(lambda s: link_identity(
            s, customer_id, identifier, channel, address, actor=actor, reason=reason, source="operator"))
        await self.index.assign({result.key: result.customer_id})
        return result


class UndoLink:
    def __init__(self, db: Database, index: IdentityIndex) -> None:
        self.db, self.index = db, index

    async def __call__(self, link_audit_id: int, *, actor: str, reason: str) -> int:
        def undo(session: Session):
            entry = audit.open_entry(session, link_audit_id, ("link",))
            data = audit.undo_data(entry)
            row = session.get(ChannelIdentity, data["identity_id"])
            if row is not None:
                if data["created_row"]:
                    session.delete(row)
                else:
                    row.verified = data["was_verified"]
            owner = session.get(IdentifierOwner, data["key"])
            # Only the owner row this link created, and only while it is still this row's.
            dropped = bool(data["created_owner"] and owner is not None
                           and (row is None or owner.customer_id == row.customer_id))
            if dropped:
                session.delete(owner)
            unlink = audit.record(session, "unlink", actor, reason, entry.customer_id,
                                  undo={"link_audit_id": link_audit_id})
            entry.undone_by = unlink.id
            return unlink.id, data["key"] if dropped else None

        unlink_id, dropped_key = await self.db.run(undo)
        if dropped_key:
            await self.index.unassign([dropped_key])
        return unlink_id
