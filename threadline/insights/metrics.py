"""Every metric of docs/insights.md, computed from a `Dataset` (pure: no I/O).

`compute(dataset, query, config)` builds the care cycles once and returns a `Report` with one
`Metric` per name in `METRICS`. Each function below is one definition of docs/insights.md.
"""
from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from itertools import accumulate
from datetime import datetime, timedelta
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from threadline.insights.business_hours import BusinessHours
from threadline.insights.csat import csat_metric
from threadline.insights.cycles import Cycle, build_cycles
from threadline.insights.followups import alert_raised, followup_summary, sent_before_recovery
from threadline.insights.model import AGENT, BOT, CUSTOMER, Dataset, HandoffRow, Message, Metric, OpportunityRow, Row
from threadline.nlu.intent_groups import SMALL_TALK
from threadline.insights.responses import (
    COMMERCIAL_INTENTS, FALLBACKS, asked_fact, facts_given, is_question, is_useful,
    not_understood,
)

DEFAULT_STALLED_DAYS = {"qualified": 3, "proposal": 3}
ADVANCING = ("new", "qualified", "proposal", "won")  # lost is not an advance


@dataclass(frozen=True)
class InsightsConfig:
    hours: BusinessHours = field(default_factory=BusinessHours.parse)
    no_follow_up_hours: float = 4.0  # business hours
    stalled_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_STALLED_DAYS))
    abandon_days: int = 3
    resolution_days: int = 7
    top_intents: int = 5


@dataclass(frozen=True)
class Query:
    """[start, end) in naive UTC; `channel` None for every channel; `as_of` is "now"."""
    start: datetime
    end: datetime
    as_of: datetime
    channel: Optional[str] = None


@dataclass(frozen=True)
class Report:
    query: Query
    metrics: Mapping[str, Metric]

    def to_dict(self) -> dict:
        stamp = lambda d: d.isoformat() + "Z"  # noqa: E731
        return {"from": stamp(self.query.start), "to": stamp(self.query.end), "as_of": stamp(self.query.as_of),
                "channel": self.query.channel, "metrics": {k: m.to_dict() for k, m in self.metrics.items()}}


@dataclass
class Context:
    data: Dataset
    query: Query
    config: InsightsConfig
    cycles: List[Cycle]  # every cycle of every customer loaded
    chosen: List[Cycle]  # the ones that start in the range, on the channel

    def in_range(self, at: datetime) -> bool:
        return self.query.start <= at < self.query.end

    def on_channel(self, channel: Optional[str]) -> bool:
        return self.query.channel is None or channel == self.query.channel

    def business(self, start: datetime, end: datetime) -> float:
        return self.config.hours.seconds_between(start, end)

    # Computed once per report, shared by the metrics that need them.
    @cached_property
    def messages_of(self) -> Dict[str, List[Message]]:
        found: Dict[str, List[Message]] = defaultdict(list)
        for m in sorted(self.data.messages, key=lambda m: (m.at, m.id)):
            found[m.customer_id].append(m)
        return found

    @cached_property
    def known(self) -> Dict[str, List[Tuple[datetime, str, str]]]:
        return _known_facts(self)

    @cached_property
    def stalls(self) -> List["Stall"]:
        return stalls(self)


def _ratio(numerator: int, denominator: int) -> Optional[float]:
    return round(numerator / denominator, 4) if denominator else None


def _durations(values: Sequence[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"median": None, "p90": None, "mean": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median": float(statistics.median(ordered)), "p90": float(p90), "mean": round(statistics.fmean(ordered), 1)}


def _counted_durations(counted: Mapping[float, int]) -> Dict[str, Optional[float]]:
    """`_durations` of the values `counted` holds ({value: how many times}), without writing each
    one out: the aggregates keep durations counted per exact value, and a month's cycles would be a
    list of hundreds of thousands to sort for a few hundred distinct values."""
    ordered = sorted((value, n) for value, n in counted.items() if n > 0)
    ends = list(accumulate(n for _, n in ordered))  # ends[i]: how many values up to ordered[i]
    if not ends:
        return {"median": None, "p90": None, "mean": None}
    total = ends[-1]

    def nth(i: int) -> float:  # the i-th (from 0) of the values in order
        return ordered[bisect_right(ends, i)][0]

    middle = total // 2
    median = nth(middle) if total % 2 else (nth(middle - 1) + nth(middle)) / 2
    p90 = nth(min(total - 1, int(round(0.9 * (total - 1)))))
    # fmean is fsum / n, and fsum the exact sum rounded once: the exact sum of the Fractions, rounded.
    exact = sum((Fraction(value) * n for value, n in ordered), Fraction(0))
    return {"median": float(median), "p90": float(p90), "mean": round(float(exact) / total, 1)}


def _row(cycle: Cycle, **detail) -> Row:
    # `started_at` lets a page plot a metric over time and list its rows by date.
    return Row(cycle.customer_id, cycle.id, {"started_at": cycle.start.isoformat() + "Z", **detail})


# --- 1. first useful response ------------------------------------------------------------
def first_useful_response(ctx: Context) -> Metric:
    calendar, business, rows, unanswered = [], [], [], 0
    for cycle in ctx.chosen:
        first = next((m for m in cycle.messages if is_useful(m)), None)
        if first is None:
            unanswered += 1
            rows.append(_row(cycle, seconds=None, business_seconds=None))
            continue
        seconds = (first.at - cycle.start).total_seconds()
        in_hours = ctx.business(cycle.start, first.at)
        calendar.append(seconds)
        business.append(in_hours)
        rows.append(_row(cycle, seconds=seconds, business_seconds=in_hours, by=first.author))
    cal, bus = _durations(calendar), _durations(business)
    return Metric("first_useful_response", "seconds", cal["median"], len(calendar), len(ctx.chosen),
                  {"calendar": cal, "business_hours": bus, "without_useful_response": unanswered}, tuple(rows))


# --- 2. no follow-up ---------------------------------------------------------------------
def no_follow_up(ctx: Context) -> Metric:
    limit = ctx.config.no_follow_up_hours * 3600
    rows, pending = [], 0
    for cycle in ctx.chosen:
        last = cycle.messages[-1]
        if last.author != CUSTOMER:
            continue
        waited = ctx.business(last.at, ctx.query.as_of)
        if waited >= limit:
            rows.append(_row(cycle, last_customer_message_at=last.at.isoformat() + "Z", business_seconds_waited=waited,
                             follow_up_alert=alert_raised(ctx.data.followups, cycle.customer_id, last.at,
                                                          ctx.query.as_of)))
        else:
            pending += 1
    return Metric("no_follow_up", "ratio", _ratio(len(rows), len(ctx.chosen)), len(rows), len(ctx.chosen),
                  {"business_hours_limit": ctx.config.no_follow_up_hours, "still_within_limit": pending}, tuple(rows))


# --- 3 and 6. stalled and recovered leads --------------------------------------------------
@dataclass(frozen=True)
class Stall:
    opportunity: OpportunityRow
    stage: str
    since: datetime  # last activity
    stalled_at: datetime  # since + the stage's days
    recovered_at: Optional[datetime]
    recovered_to: Optional[str]


def _stage_at(opportunity: OpportunityRow, at: datetime) -> Optional[str]:
    stage = None
    for when, name in opportunity.stages:
        if when <= at:
            stage = name
    return stage


def stalls(ctx: Context) -> List[Stall]:
    """Every stall of every opportunity up to `as_of`: a gap with no stage change and no message
    longer than its stage's days, while it was open at `qualified` or later."""
    as_of = ctx.query.as_of
    found: List[Stall] = []
    for opportunity in ctx.data.opportunities:
        changes = [when for when, _ in opportunity.stages if when <= as_of]
        if not changes:
            continue
        points = sorted({*changes, *(m.at for m in ctx.messages_of.get(opportunity.customer_id, ())
                                          if changes[0] <= m.at <= as_of)})
        for a, b in zip(points, points[1:] + [as_of]):
            stage = _stage_at(opportunity, a)
            days = ctx.config.stalled_days.get(stage or "")
            if days is None or b - a <= timedelta(days=days):
                continue
            stalled_at = a + timedelta(days=days)
            later = [(w, s) for w, s in opportunity.stages if w > stalled_at and w <= as_of and s in ADVANCING
                     and ADVANCING.index(s) > ADVANCING.index(stage)]
            recovered = later[0] if later else (None, None)
            found.append(Stall(opportunity, stage, a, stalled_at, *recovered))
    return found


def _chosen_stalls(ctx: Context) -> List[Stall]:
    return [s for s in ctx.stalls if ctx.in_range(s.stalled_at) and s.stalled_at <= ctx.query.as_of
            and ctx.on_channel(s.opportunity.channel)]


def _open_at_qualified(ctx: Context) -> int:
    count = 0
    for o in ctx.data.opportunities:
        if not ctx.on_channel(o.channel):
            continue
        reached = [w for w, s in o.stages if s in ctx.config.stalled_days and w < ctx.query.end]
        closed = [w for w, s in o.stages if s in ("won", "lost") and w < ctx.query.start]
        count += bool(reached) and not closed
    return count


def stalled_leads(ctx: Context) -> Metric:
    chosen = _chosen_stalls(ctx)
    rows = tuple(Row(s.opportunity.customer_id, None, {
        "opportunity_id": s.opportunity.id, "stage": s.stage, "last_activity_at": s.since.isoformat() + "Z",
        "stalled_at": s.stalled_at.isoformat() + "Z"}) for s in chosen)
    leads = len({s.opportunity.id for s in chosen})
    by_stage = Counter(s.stage for s in chosen)
    return Metric("stalled_leads", "count", leads, leads, _open_at_qualified(ctx),
                  {"days_per_stage": dict(ctx.config.stalled_days), "by_stage": dict(by_stage)}, rows)


def recovered_opportunities(ctx: Context) -> Metric:
    chosen = _chosen_stalls(ctx)
    stalled = {s.opportunity.id for s in chosen}
    recovered = {s.opportunity.id: s for s in chosen if s.recovered_at}
    followed = {i: sent_before_recovery(ctx.data.followups, s.opportunity, s.since, s.recovered_at)
                for i, s in recovered.items()}
    rows = tuple(Row(s.opportunity.customer_id, None, {
        "opportunity_id": s.opportunity.id, "stalled_at": s.stalled_at.isoformat() + "Z",
        "recovered_at": s.recovered_at.isoformat() + "Z", "to_stage": s.recovered_to,
        "after_follow_up": followed[i]}) for i, s in recovered.items())
    return Metric("recovered_opportunities", "ratio", _ratio(len(recovered), len(stalled)), len(recovered),
                  len(stalled), {"recovered": len(recovered), "won": sum(s.recovered_to == "won" for s in recovered.values()),
                                 "after_follow_up": sum(followed.values()),
                                 "followups": followup_summary(ctx.data.followups, ctx.query.start, ctx.query.end,
                                                               ctx.query.channel)},
                  rows)


# --- 4. repeated information ---------------------------------------------------------------
def _known_facts(ctx: Context) -> Dict[str, List[Tuple[datetime, str, str]]]:
    known: Dict[str, List[Tuple[datetime, str, str]]] = defaultdict(list)
    for fact in ctx.data.facts:
        known[fact.customer_id].append((fact.since, fact.kind, fact.value))
    for m in ctx.data.messages:
        if m.author == CUSTOMER:
            for kind, value in facts_given(m):
                known[m.customer_id].append((m.at, kind, value))
    for facts in known.values():
        facts.sort()
    return known


def _held(facts: List[Tuple[datetime, str, str]], before: datetime, kind: Optional[str] = None,
          value: Optional[str] = None, not_from: Optional[datetime] = None) -> bool:
    for at, k, v in facts:
        if at >= before:
            return False
        if (kind is None or k == kind) and (value is None or v == value) and (not_from is None or at != not_from):
            return True
    return False


def repeated_in(cycle: Cycle, facts: List[Tuple[datetime, str, str]]) -> List[Dict[str, str]]:
    """The repetitions in a cycle: a known fact asked for, or given again right after a question."""
    found: List[Dict[str, str]] = []
    question: Optional[Message] = None  # the last outbound message, while it is a question
    for m in cycle.messages:
        kind = asked_fact(m)
        if kind and _held(facts, m.at, kind):
            found.append({"fact": kind, "how": f"asked by {m.author}", "at": m.at.isoformat() + "Z"})
        if m.author == CUSTOMER:
            for given, value in facts_given(m) if question is not None else ():
                # A known fact asked for is counted once, as the ask.
                if not (asked_fact(question) == given and _held(facts, question.at, given)) \
                        and _held(facts, m.at, given, value):
                    found.append({"fact": given, "how": "given again", "at": m.at.isoformat() + "Z"})
            question = None
        else:
            question = m if is_question(m) else None
    return found


def repeated_information(ctx: Context) -> Metric:
    known = ctx.known
    rows, total, kinds = [], 0, Counter()
    for cycle in ctx.chosen:
        found = repeated_in(cycle, known.get(cycle.customer_id, []))
        if found:
            total += len(found)
            kinds.update(f["fact"] for f in found)
            rows.append(_row(cycle, repetitions=len(found), facts=sorted({f["fact"] for f in found}),
                             hows=sorted({f["how"] for f in found})))
    return Metric("repeated_information", "ratio", _ratio(len(rows), len(ctx.chosen)), len(rows), len(ctx.chosen),
                  {"repetitions": total, "per_cycle": _ratio(total, len(ctx.chosen)), "by_fact": dict(kinds)},
                  tuple(rows))


# --- 5. handoffs with complete context; human first response ------------------------------
def _chosen_handoffs(ctx: Context) -> List[HandoffRow]:
    return [h for h in ctx.data.handoffs if ctx.in_range(h.created_at) and ctx.on_channel(h.channel)]


def _agent_replies(ctx: Context, handoff: HandoffRow) -> List[Message]:
    until = handoff.resolved_at or ctx.query.as_of
    return [m for m in ctx.messages_of.get(handoff.customer_id, ())
            if m.author == AGENT and handoff.created_at <= m.at <= until]


def complete_context(ctx: Context) -> Metric:
    known = ctx.known
    rows, complete = [], 0
    for handoff in _chosen_handoffs(ctx):
        facts = known.get(handoff.customer_id, [])
        summary = handoff.summary or {}
        text = (handoff.summary_text + " " + repr(summary)).upper()
        missing: List[str] = []
        if not summary.get("intent"):
            missing.append("intent")
        if not summary.get("channels"):
            missing.append("channels")
        key_orders = {v for at, k, v in facts if k == "order_id" and at <= handoff.created_at}
        key_orders |= {c.order_id.upper() for c in ctx.data.cases if c.customer_id == handoff.customer_id
                       and c.order_id and c.created_at <= handoff.created_at
                       and (c.resolved_at is None or c.resolved_at > handoff.created_at)}
        normalised_text = "".join(ch for ch in text if ch.isalnum())
        if any("".join(ch for ch in order if ch.isalnum()) not in normalised_text for order in key_orders):
            missing.append("order_id")
        replies = _agent_replies(ctx, handoff)
        asked = sorted({k for m in replies[:3] if (k := asked_fact(m)) and _held(facts, m.at, k)})
        ok = not missing and not asked
        complete += ok
        rows.append(Row(handoff.customer_id, None, {"handoff_id": handoff.id, "complete": ok,
                                                    "summary_missing": missing, "agent_asked_known": asked,
                                                    "agent_replied": bool(replies)}))
    return Metric("handoffs_with_complete_context", "ratio", _ratio(complete, len(rows)), complete, len(rows), {},
                  tuple(rows))


def human_first_response(ctx: Context) -> Metric:
    calendar, business, rows, unanswered = [], [], [], 0
    for handoff in _chosen_handoffs(ctx):
        replies = _agent_replies(ctx, handoff)
        if not replies:
            unanswered += 1
            rows.append(Row(handoff.customer_id, None, {"handoff_id": handoff.id, "seconds": None,
                                                        "business_seconds": None}))
            continue
        seconds = (replies[0].at - handoff.created_at).total_seconds()
        in_hours = ctx.business(handoff.created_at, replies[0].at)
        calendar.append(seconds)
        business.append(in_hours)
        rows.append(Row(handoff.customer_id, None, {"handoff_id": handoff.id, "seconds": seconds,
                                                    "business_seconds": in_hours}))
    cal, bus = _durations(calendar), _durations(business)
    return Metric("human_first_response", "seconds", cal["median"], len(calendar), len(rows),
                  {"calendar": cal, "business_hours": bus, "without_agent_reply": unanswered}, tuple(rows))


# --- 7. recurring questions by stage --------------------------------------------------------
def recurring_questions(ctx: Context) -> Metric:
    opportunities: Dict[str, List[OpportunityRow]] = defaultdict(list)
    for o in ctx.data.opportunities:
        opportunities[o.customer_id].append(o)
    cases: Dict[str, list] = defaultdict(list)
    for c in ctx.data.cases:
        cases[c.customer_id].append(c)
    by_stage: Dict[str, Counter] = defaultdict(Counter)
    by_topic: Dict[str, Counter] = defaultdict(Counter)
    cycles_of: Dict[Tuple[str, str, str], set] = defaultdict(set)
    rows = []
    for cycle in ctx.chosen:
        for m in cycle.by(CUSTOMER):
            if not m.intent or m.intent in SMALL_TALK:
                continue
            stage = _customer_stage(opportunities.get(m.customer_id, []), m.at)
            open_cases = [c for c in cases.get(m.customer_id, []) if c.created_at <= m.at
                          and (c.resolved_at is None or c.resolved_at > m.at)]
            topic = max(open_cases, key=lambda c: (c.created_at, c.id)).topic if open_cases else "none"
            by_stage[stage][m.intent] += 1
            by_topic[topic][m.intent] += 1
            cycles_of[("stage", stage, m.intent)].add(cycle.id)
            cycles_of[("topic", topic, m.intent)].add(cycle.id)
            rows.append(_row(cycle, intent=m.intent, stage=stage, topic=topic))
    top = ctx.config.top_intents

    def table(counts: Dict[str, Counter], what: str) -> Dict[str, list]:
        return {group: [{"intent": i, "count": n, "cycles": len(cycles_of[(what, group, i)])}
                        for i, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:top]]
                for group, c in sorted(counts.items())}

    return Metric("recurring_questions", "count", len(rows), len(rows), None,
                  {"by_stage": table(by_stage, "stage"), "by_topic": table(by_topic, "topic")}, tuple(rows))


def _customer_stage(opportunities: List[OpportunityRow], at: datetime) -> str:
    """The stage, at `at`, of the customer's opportunity touched last by then; `none` without one."""
    latest: Optional[Tuple[datetime, str]] = None
    for o in opportunities:
        for when, stage in o.stages:
            if when <= at and (latest is None or when >= latest[0]):
                latest = (when, stage)
    return latest[1] if latest else "none"


# --- 8. channels that don't sell --------------------------------------------------------
def channel_funnel(ctx: Context) -> Metric:
    per: Dict[str, Dict[str, set]] = defaultdict(lambda: {"cycles": set(), "leads": set(), "qualified": set(),
                                                         "won": set()})
    opportunities: Dict[str, List[OpportunityRow]] = defaultdict(list)
    for o in ctx.data.opportunities:
        opportunities[o.customer_id].append(o)
    rows = []
    for cycle in ctx.chosen:
        channel = cycle.channel or "unknown"
        per[channel]["cycles"].add(cycle.id)
        for o in opportunities.get(cycle.customer_id, []):
            if not (cycle.start <= o.created_at < cycle.boundary):
                continue
            reached = {s for w, s in o.stages if w <= ctx.query.as_of}
            step = "lead"
            per[channel]["leads"].add(o.id)
            if reached & {"qualified", "proposal", "won"}:
                per[channel]["qualified"].add(o.id)
                step = "qualified"
            if "won" in reached:
                per[channel]["won"].add(o.id)
                step = "won"
            rows.append(_row(cycle, channel=channel, opportunity_id=o.id, furthest=step))
    funnel = {}
    for channel, sets in sorted(per.items()):
        n = {k: len(v) for k, v in sets.items()}
        funnel[channel] = {**n, "lead_rate": _ratio(n["leads"], n["cycles"]),
                           "qualified_rate": _ratio(n["qualified"], n["leads"]),
                           "won_rate": _ratio(n["won"], n["qualified"]), "cycle_to_won": _ratio(n["won"], n["cycles"])}
    not_selling = sorted(c for c, f in funnel.items() if f["cycles"] and not f["won"])
    return Metric("channel_funnel", "count", len(not_selling), len(not_selling), len(funnel),
                  {"channels": funnel, "channels_without_sales": not_selling}, tuple(rows))


# --- 9. abandonment reasons -------------------------------------------------------------
def abandonment_reasons(ctx: Context) -> Metric:
    silence = timedelta(days=ctx.config.abandon_days)
    opportunities: Dict[str, List[OpportunityRow]] = defaultdict(list)
    for o in ctx.data.opportunities:
        opportunities[o.customer_id].append(o)
    reasons, rows, commercial = Counter(), [], 0
    for cycle in ctx.chosen:
        changes = [(w, s) for o in opportunities.get(cycle.customer_id, []) for w, s in o.stages]
        touched = any(cycle.start <= w < cycle.boundary for w, _ in changes)
        if not (touched or any(m.intent in COMMERCIAL_INTENTS for m in cycle.by(CUSTOMER))):
            continue
        commercial += 1
        quiet_until = cycle.next_start or ctx.query.as_of
        if quiet_until - cycle.end < silence:
            continue  # came back (or not silent long enough yet)
        if any(s == "won" and cycle.start <= w <= cycle.end + silence for w, s in changes):
            continue
        labelled = [h for h in cycle.handoffs if h.close_label]
        if labelled:
            reason, source = labelled[-1].close_label, "agent_label"
        else:
            bots = cycle.by(BOT)
            reason = (bots[-1].response or "bot_answer") if bots else "no_bot_reply"
            source = "last_bot_step"
        reasons[reason] += 1
        rows.append(_row(cycle, reason=reason, source=source))
    return Metric("abandonment_reasons", "count", len(rows), len(rows), commercial,
                  {"silence_days": ctx.config.abandon_days,
                   "reasons": dict(sorted(reasons.items(), key=lambda x: (-x[1], x[0])))}, tuple(rows))


# --- standard ones ---------------------------------------------------------------------
def bot_containment(ctx: Context) -> Metric:
    reached = [c for c in ctx.chosen if c.reached_bot]
    waiting = {r.cycle_id for r in no_follow_up(ctx).rows}
    contained = [c for c in reached if not c.handoffs and not c.had_agent and c.id not in waiting
                 and any(is_useful(m) for m in c.by(BOT))]
    return Metric("bot_containment", "ratio", _ratio(len(contained), len(reached)), len(contained), len(reached), {},
                  tuple(_row(c) for c in contained))


def handoff_rate(ctx: Context) -> Metric:
    reached = [c for c in ctx.chosen if c.reached_bot]
    handed = [c for c in reached if c.handoffs]
    reasons = Counter(h.reason for c in handed for h in c.handoffs)
    return Metric("handoff_rate", "ratio", _ratio(len(handed), len(reached)), len(handed), len(reached),
                  {"by_reason": dict(reasons)}, tuple(_row(c, reasons=sorted({h.reason for h in c.handoffs}))
                                                       for c in handed))


def _resolved_decided(ctx: Context) -> List[Tuple[Cycle, Optional[Cycle]]]:
    """Resolved chosen cycles whose window is over (or that came back), with the next cycle."""
    window = timedelta(days=ctx.config.resolution_days)
    following = {}
    by_customer: Dict[str, List[Cycle]] = defaultdict(list)
    for c in ctx.cycles:
        by_customer[c.customer_id].append(c)
    for cycles in by_customer.values():
        for a, b in zip(cycles, cycles[1:]):
            following[a.id] = b
    decided = []
    for c in ctx.chosen:
        if c.resolved_at is None:
            continue
        nxt = following.get(c.id)
        back = nxt is not None and nxt.start - c.resolved_at <= window
        if back or ctx.query.as_of - c.resolved_at >= window:
            decided.append((c, nxt if back else None))
    return decided


def _subjects(cycle: Cycle) -> set:
    return {m.intent for m in cycle.by(CUSTOMER) if m.intent and m.intent not in SMALL_TALK}


def reopen_rate(ctx: Context) -> Metric:
    decided = _resolved_decided(ctx)
    reopened = [(c, n) for c, n in decided if n is not None and _subjects(c) & _subjects(n)]
    return Metric("reopen_rate", "ratio", _ratio(len(reopened), len(decided)), len(reopened), len(decided),
                  {"window_days": ctx.config.resolution_days},
                  tuple(_row(c, reopened_by=n.id, subjects=sorted(_subjects(c) & _subjects(n))) for c, n in reopened))


def durable_resolution(ctx: Context) -> Metric:
    decided = _resolved_decided(ctx)
    durable = [c for c, n in decided if n is None]
    return Metric("durable_resolution", "ratio", _ratio(len(durable), len(decided)), len(durable), len(decided),
                  {"window_days": ctx.config.resolution_days,
                   "by_how": dict(Counter(c.resolved_how for c in durable))},
                  tuple(_row(c, resolved_how=c.resolved_how) for c in durable))


def volume_by_channel(ctx: Context) -> Metric:
    per: Dict[str, Dict[str, int]] = defaultdict(Counter)
    for cycle in ctx.chosen:
        per[cycle.channel or "unknown"]["cycles"] += 1
    customers: Dict[str, set] = defaultdict(set)
    for m in ctx.data.messages:
        if ctx.in_range(m.at) and ctx.on_channel(m.channel) and m.at <= ctx.query.as_of:
            per[m.channel or "unknown"][f"{m.author}_messages"] += 1
            customers[m.channel or "unknown"].add(m.customer_id)
    table = {c: {"cycles": v.get("cycles", 0), "customer_messages": v.get("customer_messages", 0),
                 "bot_messages": v.get("bot_messages", 0), "agent_messages": v.get("agent_messages", 0),
                 "customers": len(customers[c])} for c, v in sorted(per.items())}
    return Metric("volume_by_channel", "count", len(ctx.chosen), len(ctx.chosen), None, {"channels": table},
                  tuple(_row(c, channel=c.channel) for c in ctx.chosen))


def bot_failures(ctx: Context) -> Metric:
    totals, failures, rows = Counter(), Counter(), []
    for cycle in ctx.chosen:
        messages = cycle.messages
        for i, m in enumerate(messages):
            if m.author != CUSTOMER:
                continue
            intent = m.intent or "unknown"
            totals[intent] += 1
            after: List[Message] = []  # the outbound messages up to the customer's next one
            next_customer: Optional[datetime] = None
            for later in messages[i + 1:]:
                if later.author == CUSTOMER:
                    next_customer = later.at
                    break
                after.append(later)
            why = None
            if not_understood(m):
                why = "not_understood"
            elif any(a.author == BOT and (a.response or "") in FALLBACKS for a in after):
                why = "fallback_reply"
            elif any(h.reason == "not_understood" and m.at <= h.created_at
                     and (next_customer is None or h.created_at < next_customer) for h in cycle.handoffs):
                why = "handed_over_not_understood"
            if why:
                failures[intent] += 1
                rows.append(_row(cycle, intent=intent, why=why))
    ranking = [{"intent": i, "failures": n, "messages": totals[i], "failure_rate": _ratio(n, totals[i])}
               for i, n in sorted(failures.items(), key=lambda x: (-x[1], x[0]))]
    total = sum(totals.values())
    return Metric("bot_failures", "ratio", _ratio(sum(failures.values()), total), sum(failures.values()), total,
                  {"intents": ranking[:ctx.config.top_intents * 2]}, tuple(rows))


def csat(ctx: Context) -> Metric:
    """(4s + 5s) / responses, and the response rate: threadline/insights/csat.py."""
    return csat_metric(ctx.data.csat, ctx.query.start, ctx.query.end, ctx.query.channel)


METRICS: Dict[str, Callable[[Context], Metric]] = {
    "first_useful_response": first_useful_response,
    "no_follow_up": no_follow_up,
    "stalled_leads": stalled_leads,
    "repeated_information": repeated_information,
    "handoffs_with_complete_context": complete_context,
    "recovered_opportunities": recovered_opportunities,
    "recurring_questions": recurring_questions,
    "channel_funnel": channel_funnel,
    "abandonment_reasons": abandonment_reasons,
    "human_first_response": human_first_response,
    "bot_containment": bot_containment,
    "handoff_rate": handoff_rate,
    "reopen_rate": reopen_rate,
    "durable_resolution": durable_resolution,
    "csat": csat,
    "volume_by_channel": volume_by_channel,
    "bot_failures": bot_failures,
}


def compute(data: Dataset, query: Query, config: Optional[InsightsConfig] = None,
            names: Optional[Iterable[str]] = None) -> Report:
    config = config or InsightsConfig()
    cycles = build_cycles(data.messages, data.handoffs, data.cases, as_of=query.as_of)
    chosen = [c for c in cycles if query.start <= c.start < query.end and c.start <= query.as_of
              and (query.channel is None or c.channel == query.channel)]
    chosen.sort(key=lambda c: (c.start, c.id))
    ctx = Context(data, query, config, cycles, chosen)
    wanted = list(names) if names is not None else list(METRICS)
    unknown = [n for n in wanted if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s): {', '.join(unknown)}")
    return Report(query, {name: METRICS[name](ctx) for name in wanted})
