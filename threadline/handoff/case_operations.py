"""What an agent does with a customer's case (a support issue), one named operation each.

    ResolveCase   open → resolved, by an agent from the customer's page; the CSAT question
                  follows (threadline/insights/csat.py, trigger "case")

The state change is a conditional UPDATE, so two agents (or two tabs) resolving the same case
cannot both win: the second gets `CaseAlreadyResolved` (the console answers 409). Who resolved
it is in the audit log (action "resolve_case"); a case of a customer merged into another since
it was opened is resolved for the survivor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import update

from threadline.crm import Database
from threadline.crm.models import AuditEntry, Case
from threadline.crm.models.base import utcnow
from threadline.identity import directory

RESOLVE_ACTION = "resolve_case"  # audit_log.action


class CaseNotFound(LookupError):
    """No such case (for that customer)."""


class CaseAlreadyResolved(Exception):
    """The case was resolved before (by someone else, or in another tab)."""


@dataclass(frozen=True)
class ResolvedCase:
    id: int
    customer_id: str  # canonical
    channel: Optional[str]  # where it was opened: where the CSAT question goes
    topic: str


class ResolveCase:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, customer_id: str, case_id: int, agent_id: str) -> ResolvedCase:
        def resolve(session) -> ResolvedCase:
            owner = directory.canonical_customer(session, customer_id)
            case = session.get(Case, case_id)
            if case is None or directory.canonical_customer(session, case.customer_id) != owner:
                raise CaseNotFound(f"no case {case_id} for customer {customer_id}")
            done = session.execute(update(Case).where(Case.id == case_id, Case.status == "open").values(
                status="resolved", resolved_at=utcnow()).execution_options(synchronize_session=False)).rowcount
            if not done:
                raise CaseAlreadyResolved(f"case {case_id} is already resolved")
            session.add(AuditEntry(action=RESOLVE_ACTION, actor=agent_id, customer_id=owner,
                                   reason=f"case {case_id} ({case.topic}) resolved from the console"))
            return ResolvedCase(case.id, owner, case.channel, case.topic)

        return await self.db.run(resolve)
