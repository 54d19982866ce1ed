"""The audit log: every link, merge and unlink, who did it, why, and how to undo it."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text

from threadline.crm.models.base import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    action = Column(String(20), nullable=False)  # link | merge | unlink | verify
    actor = Column(String(200), nullable=False)  # operator name, or `bot`/`import`
    reason = Column(Text, nullable=False)
    customer_id = Column(String(40), nullable=False, index=True)
    other_customer_id = Column(String(40), nullable=True, index=True)
    # JSON: exactly what changed, enough to reverse it.
    undo_data = Column(Text, nullable=False, default="{}")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    undone_by = Column(Integer, ForeignKey("audit_log.id"), nullable=True)
