"""Merges to be done: written in the transaction that verified a claim, run until done.

No `customer_id` column on purpose: a merge re-points every table that has one, and a job
names both customers as they were when it was written (threadline/identity/merge_jobs.py).
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text

from threadline.crm.models.base import Base, utcnow

JOB_STATUSES = ("pending", "done", "failed")


class MergeJob(Base):
    __tablename__ = "merge_jobs"

    id = Column(Integer, primary_key=True)
    survivor_id = Column(String(40), nullable=False)  # the record that owned the claimed identifier
    merged_id = Column(String(40), nullable=False)  # the claimant, whose id becomes an alias
    claim_id = Column(Integer, ForeignKey("identity_claims.id"), nullable=True, unique=True)
    actor = Column(String(200), nullable=False)
    reason = Column(Text, nullable=False)
    status = Column(String(10), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)  # runs started (a killed run counts)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    last_error = Column(String(200), nullable=True)  # the error's class and a short reason, no data
    audit_id = Column(Integer, ForeignKey("audit_log.id"), nullable=True)  # the merge, once done
    created_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime, nullable=True)
