"""Per-cycle facts kept incrementally: `insights_cycles` (threadline/crm/models/insights.py).

The timeline consumer's write marks the customers it wrote for in `insights_changed`
(threadline/crm/aggregates.py); `RefreshCycleFacts` recomputes the cycles of the marked customers
with the very code the full computation uses (cycles.py, responses.py, metrics.repeated_in), so
the page reads their sums per day and channel (`insights_cycle_counts`, moved by the difference
between a customer's old and new cycles) instead of every message, and the figures stay
those of the full computation. Handoffs, cases, identities, orders and opportunities are written
by other packages: the refresh marks their customers itself, from the rows added or resolved
since its watermark (with an overlap, so a row committed late is still seen; recomputing a
customer twice gives the same rows).

Cost: per refresh, the rows of the customers changed since the last one; the page view runs it
first, so what it reads is never older than the last message written.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Dict, Iterable, List, Set

from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.orm import Session

from threadline.crm.aggregates import local_day, upsert
from threadline.crm.models import Case, ChannelIdentity, Handoff, Opportunity, Order
from threadline.crm.models.base import utcnow
from threadline.crm.models.insights import InsightsChanged, InsightsCycle, InsightsCycleCount, InsightsWatermark
from threadline.insights.business_hours import BusinessHours
from threadline.insights.cycles import Cycle, build_cycles
from threadline.insights.load import read_customers
from threadline.insights.model import BOT, CUSTOMER, Dataset
from threadline.insights.responses import is_useful

EVERYTHING = datetime(9999, 1, 1)  # facts are computed from every row stored
OVERLAP = timedelta(minutes=10)  # rows stamped before the watermark but committed after it
WATERMARK = "cycle_facts"


def cycle_row(cycle: Cycle, facts: List[tuple], counted: List[list], settled: dict, hours: BusinessHours) -> dict:
    from threadline.insights.metrics import repeated_in

    first = next((m for m in cycle.messages if is_useful(m)), None)
    found = repeated_in(cycle, facts)
    reasons = [h.reason for h in cycle.handoffs]
    return {
        "id": cycle.id, "customer_id": cycle.customer_id, "channel": cycle.channel or "unknown",
        "day": local_day(cycle.start, hours.zone), "started_at": cycle.start, "last_at": cycle.end,
        "last_author": cycle.messages[-1].author,
        "useful_seconds": (first.at - cycle.start).total_seconds() if first else None,
        "useful_business_seconds": hours.seconds_between(cycle.start, first.at) if first else None,
        "useful_by": first.author if first else None,
        "reached_bot": cycle.reached_bot, "had_agent": cycle.had_agent,
        "useful_bot": any(is_useful(m) for m in cycle.by(BOT)),
        "handoffs": len(reasons), "handoff_reasons": json.dumps(reasons) if reasons else None,
        "repetitions": len(found),
        "repeated": json.dumps({"facts": sorted({f["fact"] for f in found}), "hows": sorted({f["how"] for f in found}),
                                "by_fact": dict(Counter(f["fact"] for f in found))}) if found else None,
        "counted": json.dumps(counted) if counted else None,
        "resolved_at": cycle.resolved_at, "resolved_how": cycle.resolved_how, "has_next": cycle.next_start is not None,
        **settled,
    }


def _counted(ctx, cycles: List[Cycle]) -> Dict[str, List[list]]:
    """Per cycle id, what the intent and funnel metrics count of it, found by those metrics'
    own functions run on the customer's cycles: [[name, key, n], ...]."""
    from threadline.insights.metrics import (
        abandonment_reasons, bot_failures, channel_funnel, durable_resolution, recurring_questions, reopen_rate,
    )

    ctx.chosen = cycles
    found: Dict[str, Counter] = defaultdict(Counter)
    for cycle in cycles:
        for m in cycle.by(CUSTOMER):
            found[cycle.id][("intent_messages", m.intent or "unknown")] += 1
    for row in bot_failures(ctx).rows:
        found[row.cycle_id][("intent_failures", row.detail["intent"])] += 1
    groups: Dict[str, set] = defaultdict(set)
    for row in recurring_questions(ctx).rows:
        for what in ("stage", "topic"):
            key = f"{row.detail[what]}\t{row.detail['intent']}"
            found[row.cycle_id][(f"{what}_intent", key)] += 1
            groups[row.cycle_id].add((f"{what}_intent_cycles", key))
    for cycle_id, keys in groups.items():
        for key in keys:
            found[cycle_id][key] += 1
    for row in reopen_rate(ctx).rows:
        found[row.cycle_id][("reopened", "")] += 1
    for row in durable_resolution(ctx).rows:
        found[row.cycle_id][("durable", row.detail["resolved_how"])] += 1
    for cycle in cycles:
        if cycle.resolved_at is not None:  # decided once its window is over
            found[cycle.id][("resolved", "")] += 1
        ctx.chosen = [cycle]
        abandoned = abandonment_reasons(ctx)
        if abandoned.denominator:
            found[cycle.id][("commercial", "")] += 1
        for row in abandoned.rows:
            found[cycle.id][("abandoned", row.detail["reason"])] += 1
    ctx.chosen = cycles
    for row in channel_funnel(ctx).rows:
        furthest = row.detail["furthest"]
        found[row.cycle_id][("funnel", "leads")] += 1
        if furthest in ("qualified", "won"):
            found[row.cycle_id][("funnel", "qualified")] += 1
        if furthest == "won":
            found[row.cycle_id][("funnel", "won")] += 1
    return {cycle_id: [[name, key, n] for (name, key), n in sorted(c.items())] for cycle_id, c in found.items()}


def cycle_rows(data: Dataset, hours: BusinessHours) -> List[dict]:
    from threadline.insights.metrics import Context, InsightsConfig, Query, _known_facts

    cycles = build_cycles(data.messages, data.handoffs, data.cases, as_of=EVERYTHING)
    config = InsightsConfig(hours=hours)
    ctx = Context(data, Query(EVERYTHING, EVERYTHING, EVERYTHING), config, cycles, [])
    known = _known_facts(ctx)
    per_customer: Dict[str, List[Cycle]] = defaultdict(list)
    for cycle in cycles:
        per_customer[cycle.customer_id].append(cycle)
    own = _per_customer(data)
    rows = []
    for customer_id, theirs in per_customer.items():
        theirs_ctx = Context(own[customer_id], ctx.query, config, theirs, [])
        counted = _counted(theirs_ctx, theirs)
        settled = _settled(theirs_ctx, theirs, counted)
        rows.extend(cycle_row(c, known.get(customer_id, []), counted.get(c.id, []), settled[c.id], hours)
                    for c in theirs)
    return rows


def _settled(ctx, cycles: List[Cycle], counted: Dict[str, List[list]]) -> Dict[str, dict]:
    """`back` (the next cycle came within the resolution window) and `abandon_reason`, as they
    stand once every window is over."""
    from threadline.insights.metrics import _resolved_decided

    ctx.chosen = cycles
    back = {c.id for c, following in _resolved_decided(ctx) if following is not None}
    reasons = {cycle_id: key for cycle_id, listed in counted.items() for name, key, _ in listed if name == "abandoned"}
    return {c.id: {"back": c.id in back, "abandon_reason": reasons.get(c.id)} for c in cycles}


def _per_customer(data: Dataset) -> Dict[str, Dataset]:
    """The dataset cut per customer, so a metric run for one customer reads only their rows."""
    parts: Dict[str, Dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name in ("messages", "handoffs", "opportunities", "cases", "facts"):
        for row in getattr(data, name):
            parts[row.customer_id][name].append(row)
    return {customer_id: Dataset(tuple(p["messages"]), tuple(p["handoffs"]), tuple(p["opportunities"]),
                                 tuple(p["cases"]), tuple(p["facts"])) for customer_id, p in parts.items()}


def contributions(row: dict) -> Counter:
    """What one cycle adds to insights_cycle_counts: (day, channel, name, key) -> n."""
    day, channel = row["day"], row["channel"]
    found: Counter = Counter()

    def add(name: str, key: str = "", n: int = 1) -> None:
        found[(day, channel, name, key)] += n

    add("cycles")
    if row["useful_seconds"] is not None:  # durations by exact value, so medians stay exact
        add("useful_seconds", repr(float(row["useful_seconds"])))
        add("useful_business_seconds", repr(float(row["useful_business_seconds"])))
    customer_last = row["last_author"] == CUSTOMER
    if customer_last:
        add("customer_last")
    if row["repetitions"]:
        add("repeated")
        add("repetitions", n=row["repetitions"])
        for kind, n in json.loads(row["repeated"])["by_fact"].items():
            add("by_fact", kind, n)
    if row["reached_bot"]:
        add("reached_bot")
        if row["handoffs"]:
            add("handed")
            for reason in json.loads(row["handoff_reasons"]):
                add("handoff_reason", reason)
        elif not row["had_agent"] and row["useful_bot"]:  # contained unless still waiting
            add("candidate")
            if customer_last:
                add("candidate_customer_last")
    for name, key, n in json.loads(row["counted"] or "[]"):
        add(name, key, n)
    return found


class RefreshCycleFacts:
    """Recompute the cycle facts of every customer changed since the last refresh."""

    def __init__(self, hours: BusinessHours, batch: int = 500) -> None:
        self.hours = hours
        self.batch = batch

    def __call__(self, session: Session) -> int:
        """Returns the customers recomputed."""
        self._mark_from_other_rows(session)  # first: its write to the watermark row serialises refreshes
        done, after = 0, ""
        while True:
            marks = session.execute(select(InsightsChanged.customer_id, InsightsChanged.version).where(
                InsightsChanged.customer_id > after).order_by(InsightsChanged.customer_id).limit(self.batch)).all()
            if not marks:
                return done
            ids = [m.customer_id for m in marks]
            rows = cycle_rows(read_customers(session, ids, EVERYTHING), self.hours)
            old = session.execute(select(InsightsCycle.__table__).where(InsightsCycle.customer_id.in_(ids))).mappings()
            delta: Counter = Counter()
            for row in old:
                delta.subtract(contributions(row))
            for row in rows:
                delta.update(contributions(row))
            session.execute(delete(InsightsCycle).where(InsightsCycle.customer_id.in_(ids)))
            if rows:
                session.execute(InsightsCycle.__table__.insert(), rows)
            upsert(session, InsightsCycleCount, [
                {"day": day, "channel": channel, "name": name, "key": key, "n": n}
                for (day, channel, name, key), n in sorted(delta.items()) if n], ("day", "channel", "name", "key"),
                ("n",))
            # One statement for the batch; a newer mark (written meanwhile) stays for the next refresh.
            session.execute(delete(InsightsChanged).where(tuple_(InsightsChanged.customer_id, InsightsChanged.version)
                                                          .in_([(m.customer_id, m.version) for m in marks])))
            done += len(ids)
            after = ids[-1]

    def _mark_from_other_rows(self, session: Session) -> None:
        from threadline.crm.aggregates import mark_changed

        # Two page views refreshing at once would both subtract the same old rows: the first
        # statement takes the watermark row's write lock (a row lock on PostgreSQL, the database's
        # on SQLite), so the second refresh starts when the first has committed, and reads its rows.
        now = utcnow()
        upsert(session, InsightsWatermark, [{"name": WATERMARK, "at": datetime.min}], ("name",), ())
        this = InsightsWatermark.name == WATERMARK
        session.execute(update(InsightsWatermark).where(this).values(name=WATERMARK))  # the lock
        previous = session.scalar(select(InsightsWatermark.at).where(this))
        session.execute(update(InsightsWatermark).where(this).values(at=now))
        since = previous - OVERLAP if previous > datetime.min + OVERLAP else datetime.min
        changed: Set[str] = set()
        for query in _changed_since(since):
            changed.update(session.scalars(query))
        mark_changed(session, changed)


def _changed_since(since: datetime) -> Iterable:
    yield select(Handoff.customer_id).where(or_(Handoff.created_at > since, Handoff.resolved_at > since))
    yield select(Case.customer_id).where(or_(Case.created_at > since, Case.resolved_at > since))
    yield select(ChannelIdentity.customer_id).where(ChannelIdentity.created_at > since)
    yield select(Order.customer_id).where(Order.placed_at > since, Order.customer_id.is_not(None))
    yield select(Opportunity.customer_id).where(Opportunity.created_at > since)


def refresh_cycle_facts(database, hours: BusinessHours) -> int:
    return database.transaction(RefreshCycleFacts(hours), retry_conflicts=True)
