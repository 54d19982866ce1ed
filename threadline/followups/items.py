"""A due item: one thing that sits idle, found by a finder, with what a follow-up needs to know."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Optional


@dataclass(frozen=True)
class DueItem:
    kind: str  # one of rules.KINDS
    customer_id: str
    subject: str  # opportunity:12, promise:3, interaction:88, handoff:hof_…
    # When the item started to sit idle: with `subject` it names this occurrence, so a lead that
    # moves and stalls again is a new item, and the same stall is never followed up twice.
    since: datetime
    due_at: datetime
    channel: Optional[str] = None  # the channel the customer last used
    context: Dict[str, str] = field(default_factory=dict)  # fills the message: product, promise...
    # The case the item is about: an open case of its own does not stop its follow-up.
    case_id: Optional[int] = None
    # The agent its console task goes to (who made the promise); None: the queue.
    agent_id: Optional[str] = None

    def key(self, action: str) -> str:
        return f"{self.kind}:{self.subject}:{self.since.isoformat(timespec='microseconds')}:{action}"
