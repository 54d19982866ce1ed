"""Care cycles: a customer's messages cut into episodes of care.

A cycle starts with a customer's first message, or their first message after 24 h with no
message at all (from anyone), or their first message after a resolution (a case resolved, a
handoff resolved). Bot and agent messages belong to the cycle they follow, however late; outbound
messages before a customer ever wrote belong to no cycle. A cycle's channel is the channel of its
first customer message; its id is `<customer id>:<id of that message>`.

A cycle is *resolved* explicitly when a case or handoff of the customer is resolved while it
runs, or implicitly when its last message is a useful outbound answer, nothing was left open
(no open handoff) and 24 h of silence followed.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from threadline.insights.model import CUSTOMER, AGENT, BOT, CaseRow, HandoffRow, Message
from threadline.insights.responses import is_useful

SILENCE = timedelta(hours=24)


@dataclass
class Cycle:
    id: str
    customer_id: str
    channel: Optional[str]
    messages: List[Message]
    next_start: Optional[datetime] = None  # the customer's next cycle, if any
    handoffs: List[HandoffRow] = field(default_factory=list)  # opened while it ran
    resolved_at: Optional[datetime] = None
    resolved_how: Optional[str] = None  # case | handoff | answered

    @property
    def start(self) -> datetime:
        return self.messages[0].at

    @property
    def end(self) -> datetime:
        return self.messages[-1].at

    @property
    def boundary(self) -> datetime:
        """Where this cycle's time stops: the next cycle's start, or forever."""
        return self.next_start or datetime.max

    def by(self, author: str) -> List[Message]:
        return [m for m in self.messages if m.author == author]

    @property
    def reached_bot(self) -> bool:
        return any(m.author == BOT for m in self.messages)

    @property
    def had_agent(self) -> bool:
        return any(m.author == AGENT for m in self.messages)


CSAT_INTENT = "csat_rating"  # the answer to the CSAT question (threadline/insights/csat.py)


def build_cycles(messages: Iterable[Message], handoffs: Sequence[HandoffRow] = (),
                 cases: Sequence[CaseRow] = (), *, as_of: datetime) -> List[Cycle]:
    """Every customer's cycles, oldest first per customer (messages after `as_of` are ignored)."""
    per_customer: Dict[str, List[Message]] = defaultdict(list)
    for message in messages:
        if message.at <= as_of:
            per_customer[message.customer_id].append(message)
    resolutions: Dict[str, List[Tuple[datetime, str]]] = defaultdict(list)
    for h in handoffs:
        if h.resolved_at and h.resolved_at <= as_of:
            resolutions[h.customer_id].append((h.resolved_at, "handoff"))
    for c in cases:
        if c.resolved_at and c.resolved_at <= as_of:
            resolutions[c.customer_id].append((c.resolved_at, "case"))
    handoffs_of: Dict[str, List[HandoffRow]] = defaultdict(list)
    for h in handoffs:
        handoffs_of[h.customer_id].append(h)
    cycles: List[Cycle] = []
    for customer_id, own in per_customer.items():
        own.sort(key=lambda m: (m.at, m.id))
        done = sorted(resolutions.get(customer_id, ()))
        found = _cut(customer_id, own, [t for t, _ in done])
        for before, after in zip(found, found[1:]):
            before.next_start = after.start
        for cycle in found:
            cycle.handoffs = [h for h in handoffs_of.get(customer_id, ()) if cycle.start <= h.created_at < cycle.boundary]
            _resolve(cycle, done, as_of)
        cycles.extend(found)
    return cycles


def _cut(customer_id: str, messages: List[Message], resolved: List[datetime]) -> List[Cycle]:
    cycles: List[Cycle] = []
    current: Optional[Cycle] = None
    for message in messages:
        if message.author != CUSTOMER:
            if current is not None:
                current.messages.append(message)
            continue
        if current is not None and message.intent == CSAT_INTENT:
            current.messages.append(message)  # a CSAT answer is about the cycle before, never a new one
            continue
        if current is None or message.at - current.end > SILENCE or _resolved_between(resolved, current.start, message.at):
            current = Cycle(f"{customer_id}:{message.id}", customer_id, message.channel, [message])
            cycles.append(current)
        else:
            current.messages.append(message)
    return cycles


def _resolved_between(resolved: List[datetime], start: datetime, at: datetime) -> bool:
    i = bisect.bisect_right(resolved, start)
    return i < len(resolved) and resolved[i] <= at


def _resolve(cycle: Cycle, done: List[Tuple[datetime, str]], as_of: datetime) -> None:
    for at, how in done:
        if cycle.start <= at < cycle.boundary:
            cycle.resolved_at, cycle.resolved_how = at, how
            return
    last = cycle.messages[-1]
    still_open = any(h.resolved_at is None or h.resolved_at > as_of for h in cycle.handoffs)
    quiet_until = cycle.next_start or as_of
    if is_useful(last) and not still_open and quiet_until - last.at >= SILENCE:
        cycle.resolved_at, cycle.resolved_how = last.at, "answered"
