"""What the follow-ups (issue #18) tell the Insights page: which recoveries came after a
follow-up, whether a conversation left without an answer raised a task, and what the range's
follow-ups came to (sent, skipped and why, outcomes). Read straight from the `followups` table:
a count over the range's rows, cheap next to the cycles (docs/insights.md)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Dict, Iterable, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.crm.models.followups import OUTCOMES, FollowUp
from threadline.insights.model import FollowUpRow, OpportunityRow


def read_followups(session: Session, *, ids=None, start: Optional[datetime] = None,
                   end: Optional[datetime] = None, as_of: Optional[datetime] = None) -> Tuple[FollowUpRow, ...]:
    """The follow-ups of the customers `ids` (a list or a select), or those planned in [start, end)."""
    query = select(FollowUp.id, FollowUp.customer_id, FollowUp.kind, FollowUp.action, FollowUp.subject,
                   FollowUp.status, FollowUp.reason, FollowUp.channel, FollowUp.planned_at, FollowUp.done_at,
                   FollowUp.outcome)
    if ids is not None:
        query = query.where(FollowUp.customer_id.in_(ids))
    if start is not None:
        query = query.where(FollowUp.planned_at >= start, FollowUp.planned_at < end)
    if as_of is not None:
        query = query.where(FollowUp.planned_at <= as_of)
    return tuple(FollowUpRow(*r) for r in session.execute(query))


def merged(*groups: Iterable[FollowUpRow]) -> Tuple[FollowUpRow, ...]:
    return tuple({f.id: f for group in groups for f in group}.values())


def sent_before_recovery(followups: Iterable[FollowUpRow], opportunity: OpportunityRow, since: datetime,
                         recovered_at: datetime) -> bool:
    """A stalled-lead message about `opportunity` was sent while it sat at the stage it stalled in
    (entered at or before `since`, its last activity) and before the change that recovered it.
    From the stage's entry, not from `since`: the follow-up is itself a message, so one sent
    before the stall's days were up is the activity the stall is counted from."""
    entered = max((w for w, _ in opportunity.stages if w <= since), default=opportunity.created_at)
    subject = f"opportunity:{opportunity.id}"
    return any(f.kind == "stalled_lead" and f.action == "message" and f.status == "sent" and f.subject == subject
               and f.done_at is not None and entered <= f.done_at < recovered_at for f in followups)


def alert_raised(followups: Iterable[FollowUpRow], customer_id: str, after: datetime, as_of: datetime) -> bool:
    """An `unanswered` task reached the console queue for the customer after their last message."""
    return any(f.customer_id == customer_id and f.kind == "unanswered" and f.action == "alert"
               and f.status == "alerted" and f.done_at is not None and after <= f.done_at <= as_of
               for f in followups)


def followup_summary(followups: Iterable[FollowUpRow], start: datetime, end: datetime,
                     channel: Optional[str]) -> Dict[str, Any]:
    """The follow-ups planned in [start, end) (on `channel`): by status, skipped and refused by
    reason, and their outcomes so far."""
    chosen = [f for f in followups if start <= f.planned_at < end and (channel is None or f.channel == channel)]
    status = Counter(f.status for f in chosen)
    outcomes = Counter(f.outcome for f in chosen if f.outcome)
    return {"planned": len(chosen), "sent": status["sent"], "alerted": status["alerted"],
            "skipped": status["skipped"], "refused": status["refused"],
            "skipped_by_reason": dict(sorted(Counter(f.reason or "" for f in chosen if f.status == "skipped").items())),
            "refused_by_reason": dict(sorted(Counter(f.reason or "" for f in chosen if f.status == "refused").items())),
            "outcomes": {o: outcomes[o] for o in OUTCOMES}}
