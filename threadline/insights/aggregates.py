"""Metrics read from incremental aggregates instead of a scan of the range's messages.

- `volume_by_channel`: about 30 x channels rows of `insights_daily` plus a count of the range's
  `insights_customer_days` (no DISTINCT: see the model), kept by the timeline consumer's write
  (threadline/crm/aggregates.py);
- `first_useful_response`, `no_follow_up`, `repeated_information`, `handoff_rate`,
  `bot_containment`, `bot_failures`, `recurring_questions`, `channel_funnel`, `reopen_rate`,
  `durable_resolution`, `abandonment_reasons`: the per-day sums of the care cycles' facts (`insights_cycle_counts`), moved
  for the customers changed since the last page view (threadline/insights/cycle_facts.py); only
  the cycles whose window is still running at `as_of` (no-follow-up limit, resolution window,
  abandonment silence: the last few days) are counted one by one and taken back;
- `handoffs_with_complete_context`, `human_first_response`, `stalled_leads`,
  `recovered_opportunities`: the full computation over only the customers with a handoff opened in
  the range or an opportunity open or touched in it; `csat`: the range's CSAT questions.

The figures equal the full computation's (tests/insights/test_aggregates.py holds them together)
when `as_of` is after every row written, as it is for a page asking about "now". Drill-down rows
stay a bounded query of the full engine.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Dict, List, Optional, Tuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Handoff, Opportunity
from threadline.crm.models.base import utcnow
from threadline.crm.models.insights import InsightsCustomerDay, InsightsCycle, InsightsCycleCount, InsightsDaily
from threadline.crm.models.sales import OPEN_STAGES
from threadline.insights.csat import csat_metric, read_csat
from threadline.insights.cycle_facts import RefreshCycleFacts
from threadline.insights.followups import read_followups
from threadline.insights.load import read_customers
from threadline.insights.metrics import InsightsConfig, Query, _counted_durations, _ratio, compute
from threadline.insights.model import CUSTOMER, Dataset, Metric

AGGREGATED = ("volume_by_channel", "first_useful_response", "no_follow_up", "repeated_information", "handoff_rate",
              "bot_containment", "bot_failures", "recurring_questions", "channel_funnel", "reopen_rate",
              "durable_resolution", "abandonment_reasons", "handoffs_with_complete_context", "human_first_response", "stalled_leads",
              "recovered_opportunities", "csat")


def volume_by_channel(session: Session, first: date, last: date, channel: Optional[str] = None) -> Metric:
    """`volume_by_channel` for the local days [first, last], without its rows."""
    daily = select(InsightsDaily.channel, func.sum(InsightsDaily.cycles), func.sum(InsightsDaily.customer_messages),
                   func.sum(InsightsDaily.bot_messages), func.sum(InsightsDaily.agent_messages)).where(
        InsightsDaily.day >= first, InsightsDaily.day <= last).group_by(InsightsDaily.channel)
    # Each customer once: on their first day in the range (their previous day is before it).
    people = select(InsightsCustomerDay.channel, func.count()).where(
        InsightsCustomerDay.day >= first, InsightsCustomerDay.day <= last,
        or_(InsightsCustomerDay.previous_day.is_(None), InsightsCustomerDay.previous_day < first),
    ).group_by(InsightsCustomerDay.channel)
    if channel is not None:
        daily = daily.where(InsightsDaily.channel == channel)
        people = people.where(InsightsCustomerDay.channel == channel)
    customers = dict(session.execute(people).all())
    table: Dict[str, dict] = {}
    for name, cycles, by_customer, by_bot, by_agent in session.execute(daily):
        counts = {"cycles": int(cycles or 0), "customer_messages": int(by_customer or 0),
                  "bot_messages": int(by_bot or 0), "agent_messages": int(by_agent or 0),
                  "customers": int(customers.get(name, 0))}
        if any(counts.values()):
            table[name] = counts
    total = sum(c["cycles"] for c in table.values())
    return Metric("volume_by_channel", "count", total, total, None, {"channels": dict(sorted(table.items()))})


class CycleCounts:
    """The range's sums of insights_cycle_counts: `one(name)`, `by(name)` -> {key: n}."""

    def __init__(self, session: Session, first: date, last: date, channel: Optional[str]) -> None:
        table = InsightsCycleCount
        query = select(table.channel, table.name, table.key, func.sum(table.n)).where(
            table.day >= first, table.day <= last).group_by(table.channel, table.name, table.key)
        if channel is not None:
            query = query.where(table.channel == channel)
        self.sums: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.per_channel: Dict[str, Dict[str, Dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for on, name, key, n in session.execute(query):
            if n:
                self.sums[name][key] += int(n)
                self.per_channel[on][name][key] = int(n)
        self.where = [InsightsCycle.day >= first, InsightsCycle.day <= last]
        if channel is not None:
            self.where.append(InsightsCycle.channel == channel)

    def one(self, name: str, key: str = "") -> int:
        return self.sums[name].get(key, 0)

    def by(self, name: str) -> Dict[str, int]:
        return dict(self.sums[name])

    def counted(self, name: str) -> Dict[float, int]:
        """{value: how many} of a name whose keys are numbers (durations)."""
        return {float(key): n for key, n in self.sums[name].items()}


def first_useful_response(counts: CycleCounts) -> Metric:
    calendar, business = counts.counted("useful_seconds"), counts.counted("useful_business_seconds")
    cal, bus = _counted_durations(calendar), _counted_durations(business)
    cycles, answered = counts.one("cycles"), sum(n for n in calendar.values() if n > 0)
    return Metric("first_useful_response", "seconds", cal["median"], answered, cycles,
                  {"calendar": cal, "business_hours": bus, "without_useful_response": cycles - answered})


def latest_late(query: Query, config: InsightsConfig, oldest: datetime) -> datetime:
    """The latest instant whose wait to `as_of` reaches the no-follow-up limit (waiting only
    shrinks as the instant gets later): a bisection to the microsecond."""
    limit = config.no_follow_up_hours * 3600
    low, high = oldest - timedelta(days=30), query.as_of  # low waited enough (or nothing is late)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if config.hours.seconds_between(middle, query.as_of) >= limit:
            low = middle
        else:
            high = middle
    return low


def _pending(session: Session, counts: CycleCounts, query: Query, config: InsightsConfig) -> Tuple[int, int]:
    """Cycles left on the customer's message that have not waited the limit yet (the recent
    ones, read from insights_cycles by their last message): all of them, and the bot-contained
    candidates among them."""
    cut = latest_late(query, config, query.start)
    recent = session.execute(select(InsightsCycle.reached_bot, InsightsCycle.handoffs, InsightsCycle.had_agent,
                                    InsightsCycle.useful_bot).where(
        InsightsCycle.last_author == CUSTOMER, InsightsCycle.last_at > cut, *counts.where)).all()
    candidates = sum(1 for r in recent if r.reached_bot and not r.handoffs and not r.had_agent and r.useful_bot)
    return len(recent), candidates


def no_follow_up(counts: CycleCounts, pending: int, config: InsightsConfig) -> Metric:
    cycles = counts.one("cycles")
    late = counts.one("customer_last") - pending
    return Metric("no_follow_up", "ratio", _ratio(late, cycles), late, cycles,
                  {"business_hours_limit": config.no_follow_up_hours, "still_within_limit": pending})


def repeated_information(counts: CycleCounts) -> Metric:
    cycles, found, total = counts.one("cycles"), counts.one("repeated"), counts.one("repetitions")
    return Metric("repeated_information", "ratio", _ratio(found, cycles), found, cycles,
                  {"repetitions": total, "per_cycle": _ratio(total, cycles), "by_fact": counts.by("by_fact")})


def handoff_rate(counts: CycleCounts) -> Metric:
    reached, handed = counts.one("reached_bot"), counts.one("handed")
    return Metric("handoff_rate", "ratio", _ratio(handed, reached), handed, reached,
                  {"by_reason": counts.by("handoff_reason")})


def bot_containment(counts: CycleCounts, pending_candidates: int) -> Metric:
    reached = counts.one("reached_bot")
    waiting = counts.one("candidate_customer_last") - pending_candidates  # no answer past the limit
    contained = counts.one("candidate") - waiting
    return Metric("bot_containment", "ratio", _ratio(contained, reached), contained, reached, {})


def bot_failures(counts: CycleCounts, config: InsightsConfig) -> Metric:
    totals, failures = counts.by("intent_messages"), counts.by("intent_failures")
    ranking = [{"intent": i, "failures": n, "messages": totals.get(i, 0), "failure_rate": _ratio(n, totals.get(i, 0))}
               for i, n in sorted(failures.items(), key=lambda x: (-x[1], x[0]))]
    failed, total = sum(failures.values()), sum(totals.values())
    return Metric("bot_failures", "ratio", _ratio(failed, total), failed, total,
                  {"intents": ranking[:config.top_intents * 2]})


def recurring_questions(counts: CycleCounts, config: InsightsConfig) -> Metric:
    def table(what: str) -> Dict[str, list]:
        groups: Dict[str, Dict[str, int]] = defaultdict(dict)
        for key, n in counts.by(f"{what}_intent").items():
            group, intent = key.split("\t", 1)
            groups[group][intent] = n
        cycles = counts.by(f"{what}_intent_cycles")
        return {group: [{"intent": i, "count": n, "cycles": cycles.get(f"{group}\t{i}", 0)}
                        for i, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:config.top_intents]]
                for group, c in sorted(groups.items())}

    questions = sum(counts.by("stage_intent").values())
    return Metric("recurring_questions", "count", questions, questions, None,
                  {"by_stage": table("stage"), "by_topic": table("topic")})


def channel_funnel(counts: CycleCounts) -> Metric:
    funnel = {}
    for channel, sums in sorted(counts.per_channel.items()):
        steps = sums.get("funnel", {})
        n = {"cycles": sums.get("cycles", {}).get("", 0), "leads": steps.get("leads", 0),
             "qualified": steps.get("qualified", 0), "won": steps.get("won", 0)}
        if not n["cycles"]:
            continue
        funnel[channel] = {**n, "lead_rate": _ratio(n["leads"], n["cycles"]),
                           "qualified_rate": _ratio(n["qualified"], n["leads"]),
                           "won_rate": _ratio(n["won"], n["qualified"]), "cycle_to_won": _ratio(n["won"], n["cycles"])}
    not_selling = sorted(c for c, f in funnel.items() if f["cycles"] and not f["won"])
    return Metric("channel_funnel", "count", len(not_selling), len(not_selling), len(funnel),
                  {"channels": funnel, "channels_without_sales": not_selling})


def _undecided(session: Session, counts: CycleCounts, query: Query, config: InsightsConfig) -> Dict[str, int]:
    """Resolved cycles whose window is still running at `as_of` (and answered ones not yet
    followed by 24 h of silence, which fall in it too), by how they were resolved: a count over
    the last `resolution_days` only."""
    since = query.as_of - timedelta(days=config.resolution_days)
    return {how: n for how, n in session.execute(select(InsightsCycle.resolved_how, func.count()).where(
        InsightsCycle.resolved_at > since, InsightsCycle.back.is_(False), *counts.where).group_by(
        InsightsCycle.resolved_how))}


def reopen_rate(counts: CycleCounts, undecided: Dict[str, int], config: InsightsConfig) -> Metric:
    decided, reopened = counts.one("resolved") - sum(undecided.values()), counts.one("reopened")
    return Metric("reopen_rate", "ratio", _ratio(reopened, decided), reopened, decided,
                  {"window_days": config.resolution_days})


def durable_resolution(counts: CycleCounts, undecided: Dict[str, int], config: InsightsConfig) -> Metric:
    decided = counts.one("resolved") - sum(undecided.values())
    by_how = {how: n - undecided.get(how, 0) for how, n in counts.by("durable").items()}
    by_how = {how: n for how, n in by_how.items() if n}
    durable = sum(by_how.values())
    return Metric("durable_resolution", "ratio", _ratio(durable, decided), durable, decided,
                  {"window_days": config.resolution_days, "by_how": by_how})


def abandonment_reasons(session: Session, counts: CycleCounts, query: Query, config: InsightsConfig) -> Metric:
    """Less the cycles still inside the silence, read one by one (the last `abandon_days`)."""
    since = query.as_of - timedelta(days=config.abandon_days)
    reasons = Counter(counts.by("abandoned"))
    reasons.subtract(dict(session.execute(select(InsightsCycle.abandon_reason, func.count()).where(
        InsightsCycle.abandon_reason.is_not(None), InsightsCycle.has_next.is_(False), InsightsCycle.last_at > since,
        *counts.where).group_by(InsightsCycle.abandon_reason)).all()))
    kept = {r: n for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0])) if n > 0}
    total = sum(kept.values())
    return Metric("abandonment_reasons", "count", total, total, counts.one("commercial"),
                  {"silence_days": config.abandon_days, "reasons": kept})


def bounded_metrics(session: Session, query: Query, config: InsightsConfig) -> Dict[str, Metric]:
    """The metrics about handoffs opened and opportunities stalled in the range, and CSAT: the
    full computation over only the customers they concern (far fewer than the range's)."""
    handed = select(Handoff.customer_id).where(Handoff.created_at >= query.start, Handoff.created_at < query.end)
    selling = select(Opportunity.customer_id).where(Opportunity.created_at < query.end, or_(
        Opportunity.stage.in_(OPEN_STAGES), Opportunity.last_touch_at >= query.start))
    in_range = read_followups(session, start=query.start, end=query.end)  # the follow-up summary's
    found: Dict[str, Metric] = {}
    for ids, names in ((handed, ("handoffs_with_complete_context", "human_first_response")),
                       (selling, ("stalled_leads", "recovered_opportunities"))):
        customers = sorted(set(session.scalars(ids)))
        data = (read_customers(session, customers, query.as_of, followups=in_range) if customers
                else Dataset((), followups=in_range))
        found.update(compute(data, query, config, names).metrics)
    found["csat"] = csat_metric(read_csat(session, query.start, query.end), query.start, query.end, query.channel)
    return found


@dataclass(frozen=True)
class PageFigures:
    """What the Insights page draws, all from the aggregates: every metric (without rows), and
    per local day the cycles and their first-useful-response times (seconds)."""
    metrics: Dict[str, Metric]
    cycles_per_day: Dict[date, int]
    useful_seconds_per_day: Dict[date, List[float]]

    @property
    def useful_seconds(self) -> List[float]:
        return [s for values in self.useful_seconds_per_day.values() for s in values]


def _per_day(session: Session, first: date, last: date, channel: Optional[str]
             ) -> Tuple[Dict[date, int], Dict[date, List[float]]]:
    table = InsightsCycleCount
    query = select(table.day, table.name, table.key, func.sum(table.n)).where(
        table.day >= first, table.day <= last, table.name.in_(("cycles", "useful_seconds"))).group_by(
        table.day, table.name, table.key)
    if channel is not None:
        query = query.where(table.channel == channel)
    cycles: Dict[date, int] = defaultdict(int)
    seconds: Dict[date, List[float]] = defaultdict(list)
    for day, name, key, n in session.execute(query):
        if name == "cycles":
            cycles[day] += int(n or 0)
        else:
            seconds[day].extend([float(key)] * int(n or 0))
    return dict(cycles), dict(seconds)


def page_figures(database: Database, first: date, last: date, channel: Optional[str] = None, *,
                 as_of: Optional[datetime] = None, config: Optional[InsightsConfig] = None) -> PageFigures:
    metrics = aggregated_metrics(database, first, last, channel, as_of=as_of, config=config)
    cycles, seconds = database.transaction(lambda session: _per_day(session, first, last, channel))
    return PageFigures(metrics, cycles, seconds)


def aggregated_metrics(database: Database, first: date, last: date, channel: Optional[str] = None, *,
                       as_of: Optional[datetime] = None, config: Optional[InsightsConfig] = None
                       ) -> Dict[str, Metric]:
    """Every metric in AGGREGATED for the local days [first, last], as of `as_of` (default now),
    without their rows; the cycle facts are refreshed first."""
    from threadline.insights import Period

    config = config or InsightsConfig()
    period = Period.of(first, last, config.hours)
    query = Query(period.start, period.end, as_of or utcnow(), channel)

    def read(session: Session) -> Dict[str, Metric]:
        RefreshCycleFacts(config.hours)(session)
        counts = CycleCounts(session, first, last, channel)
        pending, pending_candidates = _pending(session, counts, query, config)
        undecided = _undecided(session, counts, query, config)
        return {"volume_by_channel": volume_by_channel(session, first, last, channel),
                "first_useful_response": first_useful_response(counts),
                "no_follow_up": no_follow_up(counts, pending, config),
                "repeated_information": repeated_information(counts),
                "handoff_rate": handoff_rate(counts),
                "bot_containment": bot_containment(counts, pending_candidates),
                "bot_failures": bot_failures(counts, config),
                "recurring_questions": recurring_questions(counts, config),
                "channel_funnel": channel_funnel(counts),
                "reopen_rate": reopen_rate(counts, undecided, config),
                "durable_resolution": durable_resolution(counts, undecided, config),
                "abandonment_reasons": abandonment_reasons(session, counts, query, config),
                **bounded_metrics(session, query, config)}
    return database.transaction(read, retry_conflicts=True)  # a refresh that lost a race runs again


def rebuild_aggregates(database: Database, zone=None) -> int:
    from threadline.crm.aggregates import rebuild

    return database.transaction(lambda s: rebuild(s, zone))
