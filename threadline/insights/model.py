"""The typed rows the metrics are computed from, and what they give back.

The rows are what the CRM records (threadline/insights/load.py reads them from SQL); a later
incremental store can produce the same rows. A `Metric` carries its value and the rows behind
it (cycle and customer ids, never message bodies) so a page can drill down and export them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Tuple

CUSTOMER, BOT, AGENT = "customer", "bot", "agent"


@dataclass(frozen=True)
class Message:
    id: int
    customer_id: str
    author: str  # customer | bot | agent
    channel: Optional[str]
    at: datetime  # naive UTC
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: Tuple[Tuple[str, str], ...] = ()  # (entity, value)
    response: Optional[str] = None  # a bot message's response name
    # Read in memory only, to tell whether an agent asked a question; never in a result.
    text: Optional[str] = None

    @property
    def outbound(self) -> bool:
        return self.author != CUSTOMER


@dataclass(frozen=True)
class HandoffRow:
    id: str
    customer_id: str
    reason: str
    channel: Optional[str]
    created_at: datetime
    resolved_at: Optional[datetime]
    resolution: Optional[str]
    close_label: Optional[str]
    summary: Mapping[str, Any]
    summary_text: str


@dataclass(frozen=True)
class OpportunityRow:
    id: int
    customer_id: str
    product: Optional[str]
    plan: Optional[str]
    stage: str
    channel: Optional[str]
    created_at: datetime
    # (at, stage) oldest first; the creation is the first. Opportunities written before the
    # history existed get one entry: their current stage since their creation.
    stages: Tuple[Tuple[datetime, str], ...]


@dataclass(frozen=True)
class CaseRow:
    id: int
    customer_id: str
    topic: str
    order_id: Optional[str]
    created_at: datetime
    resolved_at: Optional[datetime]


@dataclass(frozen=True)
class KnownFact:
    """A fact the business held about a customer from `since`: (kind, normalised value)."""
    customer_id: str
    kind: str  # order_id | email | phone | product | address
    value: str
    since: datetime


@dataclass(frozen=True)
class Dataset:
    messages: Tuple[Message, ...]
    handoffs: Tuple[HandoffRow, ...] = ()
    opportunities: Tuple[OpportunityRow, ...] = ()
    cases: Tuple[CaseRow, ...] = ()
    facts: Tuple[KnownFact, ...] = ()  # from identities, orders and opportunities
    csat: Tuple["CsatRow", ...] = ()  # CSAT questions asked (threadline/insights/csat.py)
    # Follow-ups (issue #18) of the loaded customers and those planned in the range (threadline/insights/followups.py).
    followups: Tuple["FollowUpRow", ...] = ()


@dataclass(frozen=True)
class CsatRow:
    """One CSAT question: who, on which channel, when; the 1-5 answer if any."""
    customer_id: str
    channel: str
    asked_at: datetime
    score: Optional[int] = None
    answered_at: Optional[datetime] = None


@dataclass(frozen=True)
class FollowUpRow:
    """One follow-up the worker recorded (threadline/crm/models/followups.py): a code, no text."""
    id: int
    customer_id: str
    kind: str  # stalled_lead | unanswered | promise_due | intent_without_order
    action: str  # alert | message
    subject: str  # opportunity:12, interaction:88, ...
    status: str  # planned | sent | alerted | skipped | refused
    reason: Optional[str]
    channel: Optional[str]
    planned_at: datetime
    done_at: Optional[datetime]
    outcome: Optional[str]  # replied | advanced | won | opted_out


@dataclass(frozen=True)
class Row:
    """One item behind a metric: the cycle (or handoff, opportunity) and its customer."""
    customer_id: str
    cycle_id: Optional[str] = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return {"customer_id": self.customer_id, "cycle_id": self.cycle_id, **dict(self.detail)}


@dataclass(frozen=True)
class Metric:
    """`value` is the headline figure: a ratio (0-1), a count or seconds, per `unit`; None when
    its denominator is empty. `details` holds the other figures (business-hours values, p90,
    groups); `rows` what it counted."""
    name: str
    unit: str  # ratio | count | seconds
    value: Optional[float]
    numerator: Optional[int] = None
    denominator: Optional[int] = None
    details: Mapping[str, Any] = field(default_factory=dict)
    rows: Tuple[Row, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "value": self.value, "numerator": self.numerator,
                "denominator": self.denominator, "details": dict(self.details),
                "rows": [r.to_dict() for r in self.rows]}
