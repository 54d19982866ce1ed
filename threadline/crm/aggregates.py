"""Keeping the Insights aggregates (threadline/crm/models/insights.py) as messages are written.

`record_messages(session, messages)` runs in the transaction that writes the interactions (the
timeline consumer's `record_interactions`), so the counters move with the rows or not at all.
It also marks the customers written in `insights_changed`, whose cycle facts the Insights
refresh (threadline/insights/cycle_facts.py) recomputes from their rows.
`rebuild(session)` recomputes every aggregate from the stored rows (`bin/threadline metrics
--rebuild-aggregates`): after a customer merge moved rows, a change of BUSINESS_TIMEZONE, or
rows written by something other than the consumer (imports, the demo operation).

Care cycles are cut as threadline/insights/cycles.py cuts them (the equality tests hold the two
together): a customer message starts a cycle when there is none yet, after 24 h with no message
at all, or after a case or handoff of the customer was resolved since the cycle began. Days are
local days in the business time zone. Messages of one customer are expected in time order (the
consumer writes a conversation in its order); one written out of order is counted, and its
cycle effect is fixed by a rebuild.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from threadline.crm.models import Case, Handoff, Interaction
from threadline.crm.models.insights import (
    InsightsChanged, InsightsCustomerDay, InsightsCycle, InsightsCycleCount, InsightsCycleState, InsightsDaily, InsightsWatermark,
)

CYCLE_SILENCE = timedelta(hours=24)
UNKNOWN = "unknown"
AUTHOR_COLUMNS = {"customer": "customer_messages", "bot": "bot_messages", "agent": "agent_messages"}
DEFAULT_TIMEZONE = "America/Sao_Paulo"


def business_zone() -> ZoneInfo:
    return ZoneInfo((os.environ.get("BUSINESS_TIMEZONE") or "").strip() or DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class Written:
    """What the aggregates need of one interaction (no text)."""
    id: int
    customer_id: str
    author: str
    channel: Optional[str]
    at: datetime  # naive UTC


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.replace(tzinfo=timezone.utc).astimezone(zone).date()


class Tally:
    """Counter deltas for a batch: per (day, channel) and the customer-days seen."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.daily: Dict[Tuple[date, str], Counter] = defaultdict(Counter)
        self.customer_days: Set[Tuple[date, str, str]] = set()

    def message(self, m: Written) -> None:
        key = (local_day(m.at, self.zone), m.channel or UNKNOWN)
        self.daily[key][AUTHOR_COLUMNS.get(m.author, "agent_messages")] += 1
        self.customer_days.add((*key, m.customer_id))

    def cycle(self, m: Written) -> None:
        self.daily[(local_day(m.at, self.zone), m.channel or UNKNOWN)]["cycles"] += 1


def step(state: Tuple[Optional[datetime], Optional[datetime]], m: Written, resolved: Sequence[datetime],
         tally: Tally) -> Tuple[Optional[datetime], Optional[datetime]]:
    """One message through a customer's cycle state (start, end): the new state."""
    start, end = state
    tally.message(m)
    if m.author != "customer":
        return (start, m.at) if start is not None else state
    if start is None or m.at - end > CYCLE_SILENCE or any(start < r <= m.at for r in resolved):
        tally.cycle(m)
        return m.at, m.at
    return start, m.at


# Many rows (the cycle facts' refresh after a rebuild upserts hundreds of thousands of counters):
# INSERT ... VALUES statements of UPSERT_CHUNK rows, one round trip each (psycopg2 runs an
# executemany of an ON CONFLICT insert row by row). A few rows (the consumer's write of one
# conversation) keep the executemany: its statement is compiled once and cached, where a
# VALUES list of each new length is compiled again. 500 rows x 5 columns fits SQLite's limit.
UPSERT_CHUNK = 500
FEW_ROWS = 50


def _insert_for(session: Session, model):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def _execute_insert(session: Session, model, values: List[dict], finish) -> None:
    """`finish(insert)` adds the ON CONFLICT clause."""
    if len(values) <= FEW_ROWS:
        session.execute(finish(_insert_for(session, model)), values)
        return
    for i in range(0, len(values), UPSERT_CHUNK):
        session.execute(finish(_insert_for(session, model).values(values[i:i + UPSERT_CHUNK])))


def upsert(session: Session, model, values: List[dict], keys: Sequence[str], add: Sequence[str]) -> None:
    """Insert `values` (unique on `keys`), adding the `add` columns to a row that exists."""
    if not values:
        return

    def finish(statement):
        if add:
            return statement.on_conflict_do_update(
                index_elements=list(keys), set_={c: getattr(model, c) + getattr(statement.excluded, c) for c in add})
        return statement.on_conflict_do_nothing(index_elements=list(keys))

    _execute_insert(session, model, values, finish)


def mark_changed(session: Session, customer_ids: Iterable[str]) -> None:
    """Their cycle facts (insights_cycles) are recomputed by the next refresh
    (threadline/insights/cycle_facts.py); a newer version tells a running refresh it read too early."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    _execute_insert(session, InsightsChanged, [{"customer_id": i, "version": 1} for i in ids],
                    lambda statement: statement.on_conflict_do_update(
                        index_elements=["customer_id"], set_={"version": InsightsChanged.version + 1}))


def _write(session: Session, tally: Tally, fresh: bool = False) -> None:
    columns = ("customer_messages", "bot_messages", "agent_messages", "cycles")
    upsert(session, InsightsDaily, [
        {"day": day, "channel": channel, **{c: counts.get(c, 0) for c in columns}}
        for (day, channel), counts in sorted(tally.daily.items())], ("day", "channel"), columns)
    if fresh:  # a rebuild: every customer-day is new, chained to the one before
        rows, last = [], None
        for channel, who, day in sorted((c, w, d) for d, c, w in tally.customer_days):
            previous = last[2] if last and last[:2] == (channel, who) else None
            rows.append({"day": day, "channel": channel, "customer_id": who, "previous_day": previous})
            last = (channel, who, day)
        for i in range(0, len(rows), 50_000):
            session.execute(InsightsCustomerDay.__table__.insert(), rows[i:i + 50_000])
        return
    table = InsightsCustomerDay
    for day, channel, who in sorted(tally.customer_days):
        if session.get(table, (day, channel, who)) is not None:
            continue
        same = (table.channel == channel, table.customer_id == who)
        previous = session.scalar(select(func.max(table.day)).where(*same, table.day < day))
        following = session.scalar(select(func.min(table.day)).where(*same, table.day > day))
        session.add(table(day=day, channel=channel, customer_id=who, previous_day=previous))
        if following is not None:  # written out of order: the later day now follows this one
            session.execute(update(table).where(*same, table.day == following).values(previous_day=day))
        session.flush()


def _resolutions(session: Session, customer_ids: Iterable[str], since: Optional[datetime] = None
                 ) -> Dict[str, List[datetime]]:
    ids = list(customer_ids)
    found: Dict[str, List[datetime]] = defaultdict(list)
    for model in (Handoff, Case):
        query = select(model.customer_id, model.resolved_at).where(model.resolved_at.is_not(None))
        if ids:
            query = query.where(model.customer_id.in_(ids))
        if since is not None:
            query = query.where(model.resolved_at > since)
        for customer_id, at in session.execute(query):
            found[customer_id].append(at)
    return found


def record_messages(session: Session, messages: Sequence[Written], zone: Optional[ZoneInfo] = None) -> None:
    """Move the aggregates by the interactions just written in this transaction."""
    if not messages:
        return
    tally = Tally(zone or business_zone())
    per_customer: Dict[str, List[Written]] = defaultdict(list)
    for m in messages:
        per_customer[m.customer_id].append(m)
    states = {s.customer_id: s for s in session.scalars(select(InsightsCycleState).where(
        InsightsCycleState.customer_id.in_(list(per_customer))).with_for_update())}
    starts = [s.cycle_start for s in states.values() if s.cycle_start is not None]
    resolved = _resolutions(session, per_customer, min(starts) if starts else None)
    for customer_id, own in per_customer.items():
        row = states.get(customer_id)
        state = (row.cycle_start, row.cycle_end) if row else (None, None)
        for m in sorted(own, key=lambda m: (m.at, m.id)):
            state = step(state, m, resolved.get(customer_id, ()), tally)
        if row is None:
            session.add(InsightsCycleState(customer_id=customer_id, cycle_start=state[0], cycle_end=state[1]))
        else:
            row.cycle_start, row.cycle_end = state
    session.flush()
    _write(session, tally)
    mark_changed(session, per_customer)


def rebuild(session: Session, zone: Optional[ZoneInfo] = None, batch: int = 50_000) -> int:
    """Recompute every aggregate from the stored interactions; returns the messages read."""
    tally = Tally(zone or business_zone())
    for model in (InsightsDaily, InsightsCustomerDay, InsightsCycleState, InsightsCycle, InsightsCycleCount,
                  InsightsChanged, InsightsWatermark):
        session.execute(delete(model))
    resolved = _resolutions(session, ())
    states: List[dict] = []
    current: Optional[str] = None
    state: Tuple[Optional[datetime], Optional[datetime]] = (None, None)
    read = 0
    rows = session.execute(select(
        Interaction.id, Interaction.customer_id, Interaction.author, Interaction.channel, Interaction.occurred_at,
    ).order_by(Interaction.customer_id, Interaction.occurred_at, Interaction.id).execution_options(yield_per=batch))
    for r in rows:
        if r.customer_id != current:
            if current is not None:
                states.append({"customer_id": current, "cycle_start": state[0], "cycle_end": state[1]})
            current, state = r.customer_id, (None, None)
        state = step(state, Written(r.id, r.customer_id, r.author, r.channel, r.occurred_at),
                     resolved.get(r.customer_id, ()), tally)
        read += 1
    if current is not None:
        states.append({"customer_id": current, "cycle_start": state[0], "cycle_end": state[1]})
    for i in range(0, len(states), batch):
        session.execute(InsightsCycleState.__table__.insert(), states[i:i + batch])
    _write(session, tally, fresh=True)
    # Every customer's cycle facts are recomputed by the next refresh.
    for i in range(0, len(states), batch):
        session.execute(InsightsChanged.__table__.insert(),
                        [{"customer_id": s["customer_id"], "version": 1} for s in states[i:i + batch]])
    return read
