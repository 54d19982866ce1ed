"""Writing and reading audit entries (who, when, why, and the data to undo it)."""
from __future__ import annotations

import json
from typing import Optional

from sqlalchemy.orm import Session

from threadline.crm.models import AuditEntry
from threadline.crm.models.base import utcnow


class AuditError(LookupError):
    pass


def record(session: Session, action: str, actor: str, reason: str, customer_id: str,
           other_customer_id: Optional[str] = None, undo: Optional[dict] = None) -> AuditEntry:
    if not actor.strip() or not reason.strip():
        raise ValueError("an audited change needs who (--by) and why (--reason)")
    entry = AuditEntry(action=action, actor=actor.strip(), reason=reason.strip(), customer_id=customer_id,
                       other_customer_id=other_customer_id, undo_data=json.dumps(undo or {}),
                       created_at=utcnow())
    session.add(entry)
    session.flush()
    return entry


def undo_data(entry: AuditEntry) -> dict:
    return json.loads(entry.undo_data or "{}")


def open_entry(session: Session, audit_id: int, actions: tuple) -> AuditEntry:
    """An entry of one of `actions` that has not been undone yet."""
    entry = session.get(AuditEntry, audit_id)
    if entry is None or entry.action not in actions:
        raise AuditError(f"no {' or '.join(actions)} with audit id {audit_id}")
    if entry.undone_by is not None:
        raise AuditError(f"audit entry {audit_id} was already undone by entry {entry.undone_by}")
    return entry


def as_dict(entry: AuditEntry) -> dict:
    return {
        "id": entry.id, "action": entry.action, "actor": entry.actor, "reason": entry.reason,
        "customer_id": entry.customer_id, "other_customer_id": entry.other_customer_id,
        "created_at": entry.created_at.isoformat() + "Z", "undone_by": entry.undone_by,
    }
