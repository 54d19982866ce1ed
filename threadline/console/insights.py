"""The Insights page (issue #17): every metric of docs/insights.md for a date range and a
channel, its trend against the previous period of the same length, plots, the rows behind each
number, and their CSV export (audited).

The page's figures come from the incremental aggregates (`threadline.insights.aggregates.
page_figures`: sums per day, no scan of the range's messages); the rows behind a number, their
export and the customer pages' flags from `threadline.insights.insights_report` (the full
computation, on click); both in a worker thread; plots are drawn in a worker thread too (plots.py). Bad
input (a missing or reversed range, more than 366 days, an unknown channel) and a range with
no data give a message on the page, never an error status.
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from statistics import median
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from threadline.console import plots
from threadline.console.i18n import translator
from threadline.console.rendering import language_of, render, stamp_in
from threadline.console.state import console_of
from threadline.crm.models import AuditEntry
from threadline.handoff.languages import marked
from threadline.handoff.rendering import channel_label
from threadline.insights import CHANNELS, MAX_RANGE_DAYS, BusinessHoursError, Period, insights_report
from threadline.insights.aggregates import PageFigures, page_figures
from threadline.insights.business_hours import BusinessHours
from threadline.insights.metrics import InsightsConfig, Report

DEFAULT_DAYS = 30
ROWS_SHOWN = 500
EXPORT_ACTION = "export"  # audit_log.action of a CSV export

# name: (title, what it counts), in the order the page shows them.
TITLES: Dict[str, Tuple[str, str]] = {
    "first_useful_response": (marked("Time to first useful response"),
                              marked("Median, from the customer's first message to the first real answer")),
    "no_follow_up": (marked("Conversations with no follow-up"),
                     marked("Last message the customer's, unanswered for 4 business hours")),
    "stalled_leads": (marked("Stalled leads"), marked("Qualified leads with no move and no message for days")),
    "recovered_opportunities": (marked("Recovered opportunities"), marked("Stalled leads that later advanced or were won")),
    "repeated_information": (marked("Customers who had to repeat information"),
                             marked("Conversations where a fact we held was asked or given again")),
    "handoffs_with_complete_context": (marked("Handoffs with complete context"),
                                       marked("Summary names intent, channels and facts; the agent asked none again")),
    "human_first_response": (marked("Human first response"), marked("Median, from the handoff to the agent's first reply")),
    "bot_containment": (marked("Bot containment"), marked("Conversations the bot solved with no person")),
    "handoff_rate": (marked("Handoff rate"), marked("Conversations with the bot that were handed to a person")),
    "reopen_rate": (marked("Reopen rate"), marked("Resolved, and back within 7 days about the same subject")),
    "durable_resolution": (marked("7-day durable resolution"), marked("Resolved, and no new conversation for 7 days")),
    "abandonment_reasons": (marked("Abandoned before purchase"), marked("Commercial conversations that went silent")),
    "channel_funnel": (marked("Channels with conversations and no sales"), marked("Channels with cycles but no sale")),
    "recurring_questions": (marked("Recurring questions"), marked("Customer questions, by stage of the journey")),
    "bot_failures": (marked("Messages the bot failed on"), marked("Not understood, a fallback, or handed over for it")),
    "volume_by_channel": (marked("Conversations"), marked("Care cycles that started in the range")),
    "csat": (marked("CSAT"), marked("Rated 4 or 5 of 5, of the customers who answered the question")),
}
# Why a follow-up was skipped (threadline/followups/guards.py and run.py), as the card reads it.
SKIP_REASONS: Dict[str, str] = {
    "customer_gone": marked("customer gone"), "opted_out": marked("opted out"), "open_case": marked("a case is open"),
    "handoff_in_progress": marked("with an agent"), "no_channel": marked("no channel to write on"),
    "messaged_recently": marked("written to recently"),
    "whatsapp_window_closed_no_template": marked("WhatsApp window closed, no template"),
    "instagram_window_closed": marked("Instagram window closed"), "missing_context": marked("details missing"),
}
HIGHER_IS_BETTER = {"handoffs_with_complete_context", "recovered_opportunities", "bot_containment",
                    "durable_resolution", "csat"}
NEUTRAL = {"volume_by_channel", "recurring_questions"}
# The agents' close labels and the fallbacks of abandonment reasons, as the reasons plot prints them.
REASON_WORDS = (marked("price"), marked("delivery time"), marked("stock"), marked("payment"), marked("trust"),
                marked("other"), marked("bot answer"), marked("no bot reply"))


@dataclass(frozen=True)
class Choice:
    """What the agent asked for, as typed (to refill the form) and, when valid, as a Period."""
    first: str
    last: str
    channel: str
    period: Optional[Period] = None
    error: str = ""

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"from": self.first, "to": self.last, **({"channel": self.channel} if self.channel else {})})


def _today(hours: BusinessHours) -> date:
    return hours.local(datetime.now(timezone.utc).replace(tzinfo=None)).date()


def choose(request: web.Request, values) -> Choice:
    """The range and channel in `values` (query or form), checked; errors in the agent's words."""
    gettext = translator(language_of(request)).gettext
    try:
        hours = BusinessHours.from_env()
    except BusinessHoursError as error:
        return Choice("", "", "", error=str(error))
    today = _today(hours)
    given = "from" in values or "to" in values
    first = str(values.get("from", (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())).strip()
    last = str(values.get("to", today.isoformat())).strip()
    channel = str(values.get("channel", "")).strip().lower()
    typed = Choice(first, last, channel)
    if given and (not first or not last):
        return Choice(first, last, channel, error=gettext("Choose both the first and the last day of the range."))
    try:
        day_one, day_last = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return Choice(first, last, channel, error=gettext("Dates are written YYYY-MM-DD (e.g. 2026-11-30)."))
    if day_last < day_one:
        return Choice(first, last, channel, error=gettext("The range ends (%(last)s) before it starts (%(first)s).")
                      % {"first": first, "last": last})
    days = (day_last - day_one).days + 1
    if days > MAX_RANGE_DAYS:
        return Choice(first, last, channel, error=gettext("The range has %(days)d days; at most %(max)d at a time.")
                      % {"days": days, "max": MAX_RANGE_DAYS})
    if channel and channel not in CHANNELS:
        return Choice(first, last, "", error=gettext("Unknown channel: %(channel)s.") % {"channel": channel[:40]})
    return Choice(typed.first, typed.last, channel, Period.of(day_one, day_last, hours))


def previous(period: Period) -> Period:
    length = (period.last - period.first).days + 1
    last = period.first - timedelta(days=1)
    return Period.of(last - timedelta(days=length - 1), last, period.hours)


class RecentFigures:
    """The page's figures (threadline/insights/aggregates.py: sums kept as messages arrive, no
    scan of the range's messages), by (database, range, channel), for REPORT_TTL_S seconds."""

    def __init__(self, ttl_s: float = 60.0, size: int = 16) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._lock = threading.Lock()
        self._found: "OrderedDict[tuple, Tuple[float, PageFigures]]" = OrderedDict()

    def get(self, db, period: Period, channel: Optional[str]) -> PageFigures:
        key = (db.url, period.first, period.last, channel)
        with self._lock:
            hit = self._found.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
        figures = page_figures(db, period.first, period.last, channel,
                               as_of=datetime.now(timezone.utc).replace(tzinfo=None),
                               config=InsightsConfig(hours=period.hours))
        with self._lock:
            self._found[key] = (time.monotonic(), figures)
            self._found.move_to_end(key)
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return figures


FIGURES = RecentFigures()


class RecentReports:
    """Full reports (with every metric's rows) computed in the last REPORT_TTL_S seconds, by
    (database, range, channel): the drill-downs, exports and customer pages read the same rows,
    and a click does not recompute everything (a report of 2,000 customers takes
    seconds: docs/insights.md, "Scale")."""

    def __init__(self, ttl_s: float = 60.0, size: int = 16) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._lock = threading.Lock()
        self._found: "OrderedDict[tuple, Tuple[float, Report]]" = OrderedDict()

    def get(self, db, period: Period, channel: Optional[str]) -> Report:
        key = (db.url, period.first, period.last, channel)
        with self._lock:
            hit = self._found.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
        report = insights_report(db, period, channel, as_of=datetime.now(timezone.utc).replace(tzinfo=None))
        with self._lock:
            self._found[key] = (time.monotonic(), report)
            self._found.move_to_end(key)
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return report


REPORTS = RecentReports()


def _figures(db, choice: Choice) -> Tuple[PageFigures, PageFigures]:
    channel = choice.channel or None
    return FIGURES.get(db, choice.period, channel), FIGURES.get(db, previous(choice.period), channel)


# --- how a figure reads -------------------------------------------------------------------
def duration(gettext, seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return gettext("%(seconds)d s") % {"seconds": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    if minutes < 24 * 60:
        if minutes % 60 == 0:
            return gettext("%(hours)d h") % {"hours": minutes // 60}
        return gettext("%(hours)d h %(minutes)d min") % {"hours": minutes // 60, "minutes": minutes % 60}
    return gettext("%(days)d d") % {"days": minutes // (24 * 60)}


def shown(gettext, unit: str, value: Optional[float]) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return duration(gettext, value)
    return f"{value:g}"


def trend(gettext, name: str, unit: str, now: Optional[float], before: Optional[float]) -> Dict[str, str]:
    """The change against the previous period, and whether it is good news."""
    if now is None or before is None:
        return {"text": gettext("no figure for the previous period"), "mood": "none"}
    change = now - before
    if abs(change) < 1e-9:
        return {"text": gettext("= same as the previous period"), "mood": "same"}
    if unit == "ratio":
        text = gettext("%(change)s pts") % {"change": f"{change * 100:+.1f}"}
    elif before:
        text = f"{change / before * 100:+.0f}%"
    else:
        text = f"{change:+g}" if unit != "seconds" else ("+" + duration(gettext, change) if change > 0 else "0")
    if name in NEUTRAL:
        mood = "neutral"
    else:
        mood = "good" if (change > 0) == (name in HIGHER_IS_BETTER) else "bad"
    arrow = "▲" if change > 0 else "▼"
    return {"text": f"{arrow} {text}", "mood": mood}


def _has_data(figures: PageFigures) -> bool:
    m = figures.metrics
    return bool(m["volume_by_channel"].numerator or m["human_first_response"].denominator
                or m["stalled_leads"].value)


def _cards(gettext, figures: PageFigures, before: PageFigures) -> List[dict]:
    cards = []
    for name, (title, what) in TITLES.items():
        metric, old = figures.metrics[name], before.metrics[name]
        count = f"{metric.numerator}/{metric.denominator}" if metric.denominator is not None and metric.numerator is not None else ""
        what = gettext(what)
        if name == "csat":  # the response rate beside the score (docs/insights.md)
            what += " · " + gettext("response rate %(rate)s of %(asked)d questions") % {
                "rate": shown(gettext, "ratio", metric.details.get("response_rate")),
                "asked": metric.details.get("asked", 0)}
        if name == "recovered_opportunities":  # issue #18: what the follow-ups did for them
            what += " · " + gettext("%(recovered)d recovered, %(after)d of them after a follow-up") % {
                "recovered": metric.details.get("recovered", 0), "after": metric.details.get("after_follow_up", 0)}
            what += " · " + followups_line(gettext, metric.details.get("followups") or {})
        cards.append({"name": name, "title": gettext(title), "what": what,
                      "value": shown(gettext, metric.unit, metric.value), "count": count,
                      "rows": bool(metric.numerator or metric.denominator or metric.value), "trend": trend(gettext, name, metric.unit, metric.value, old.value)})
    return cards


def followups_line(gettext, summary: Dict[str, Any]) -> str:
    """The range's follow-ups: sent, skipped and why, and what came of them."""
    reasons = ", ".join(f"{gettext(SKIP_REASONS[r]) if r in SKIP_REASONS else r} {n}"
                        for r, n in (summary.get("skipped_by_reason") or {}).items())
    outcomes = summary.get("outcomes") or {}
    return gettext("Follow-ups: %(sent)d sent, %(skipped)d skipped%(reasons)s; %(replied)d replied, %(advanced)d advanced, %(won)d won, %(opted_out)d opted out") % {  # noqa: E501
        "sent": summary.get("sent", 0), "skipped": summary.get("skipped", 0),
        "reasons": f" ({reasons})" if reasons else "", "replied": outcomes.get("replied", 0),
        "advanced": outcomes.get("advanced", 0), "won": outcomes.get("won", 0),
        "opted_out": outcomes.get("opted_out", 0)}


def _series(figures: PageFigures, period: Period) -> plots.Series:
    days = [period.first + timedelta(days=i) for i in range((period.last - period.first).days + 1)]
    waits = {d: [s / 60 for s in figures.useful_seconds_per_day.get(d, ())] for d in days}
    return plots.Series(days, [figures.cycles_per_day.get(d, 0) for d in days],
                        [median(waits[d]) if waits[d] else None for d in days])


def _plots(gettext, figures: PageFigures, period: Period) -> Dict[str, str]:
    words = {"no_data": gettext("No data in this range"), "cycles": gettext("Conversations"),
             "median": gettext("Median first useful response (min)"), "minutes": gettext("Time to a first useful response (log scale)"),
             "leads": gettext("Leads"), "qualified": gettext("Qualified"), "won": gettext("Won")}
    series = _series(figures, period)
    funnel = figures.metrics["channel_funnel"].details.get("channels", {})
    labels = {c: gettext(channel_label(c)) for c in funnel}
    seconds = figures.useful_seconds
    reasons = figures.metrics["abandonment_reasons"].details.get("reasons", {})
    return plots.render_all({
        "series": lambda: plots.series_plot(series, words),
        "funnel": lambda: plots.funnel_plot(funnel, labels, words),
        "distribution": lambda: plots.distribution_plot([s for s in seconds if s is not None], words,
                                                        lambda s: duration(gettext, s)),
        "reasons": lambda: plots.reasons_plot(reasons, lambda r: reason_label(gettext, r), words),
    })


def reason_label(gettext, reason: str) -> str:
    """An agent's close label ("delivery time"), or the bot's last step ("bot: offer purchase")."""
    if reason.startswith("utter_"):
        return gettext("bot: %(step)s") % {"step": reason[len("utter_"):].replace("_", " ")}
    return gettext(reason.replace("_", " "))


def _form_context(choice: Choice) -> dict:
    return {"choice": choice, "channels": CHANNELS}


async def insights_page(request: web.Request) -> web.Response:
    gettext = translator(language_of(request)).gettext
    choice = choose(request, request.query)
    context: Dict[str, Any] = _form_context(choice)
    if choice.period is not None:
        figures, before = await asyncio.to_thread(_figures, console_of(request).db, choice)
        context["previous"] = previous(choice.period)
        if not _has_data(figures):
            context["empty"] = gettext("No conversations, handoffs or leads in this range%(on)s. Choose another range or channel.") % {
                "on": (gettext(" on %(channel)s") % {"channel": gettext(channel_label(choice.channel))}) if choice.channel else ""}
        else:
            context["cards"] = _cards(gettext, figures, before)
            context["plots"] = await asyncio.to_thread(_plots, gettext, figures, choice.period)
            context["funnel"] = figures.metrics["channel_funnel"].details.get("channels", {})
            context["reasons"] = figures.metrics["abandonment_reasons"].details.get("reasons", {})
    return render(request, "insights.html", context)


# --- the rows behind a number, and their export --------------------------------------------
# The rows' keys (threadline/insights/metrics.py), as the rows page heads its columns; the CSV
# keeps the keys, which scripts read.
COLUMNS: Dict[str, str] = {
    "cycle_id": marked("Care cycle"), "started_at": marked("Started"), "seconds": marked("Time"),
    "business_seconds": marked("Business-hours time"), "by": marked("Answered by"),
    "last_customer_message_at": marked("Customer's last message"),
    "business_seconds_waited": marked("Waited (business hours)"), "opportunity_id": marked("Opportunity"),
    "stage": marked("Stage"), "last_activity_at": marked("Last activity"), "stalled_at": marked("Stalled since"),
    "recovered_at": marked("Recovered"), "to_stage": marked("Moved to"), "repetitions": marked("Repetitions"),
    "facts": marked("Facts"), "hows": marked("How"), "handoff_id": marked("Handoff"), "complete": marked("Complete"),
    "summary_missing": marked("Missing from the summary"), "agent_asked_known": marked("Agent asked again"),
    "agent_replied": marked("Agent replied"), "intent": marked("Intent"), "topic": marked("Topic"),
    "channel": marked("Channel"), "furthest": marked("Furthest step"), "reason": marked("Reason"),
    "source": marked("Source"), "reasons": marked("Reasons"), "reopened_by": marked("Reopened by"),
    "subjects": marked("Subjects"), "resolved_how": marked("Resolved by"), "why": marked("Why"),
    "score": marked("Score"), "after_follow_up": marked("After a follow-up"),
    "follow_up_alert": marked("Follow-up task raised"),
}


def column_title(gettext):
    def title(key: str) -> str:
        return gettext(COLUMNS[key]) if key in COLUMNS else key.replace("_", " ")
    return title


def _columns(rows: List[dict]) -> List[str]:
    columns: List[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _page_cell(gettext, stamp):
    """How a row's value reads on the page: moments as the timeline writes them, durations in
    words; the CSV keeps the raw values."""
    def cell(key: str, value: Any) -> str:
        if isinstance(value, str) and key.endswith("_at") and value.endswith("Z"):
            try:
                return stamp(datetime.fromisoformat(value[:-1]))
            except ValueError:
                return value
        if key.endswith("seconds") or key.endswith("seconds_waited"):
            return duration(gettext, value) if isinstance(value, (int, float)) else ""
        return _cell(value)

    return cell


def _report_rows(db, choice: Choice, name: str) -> List[dict]:
    report = REPORTS.get(db, choice.period, choice.channel or None)
    return [row.to_dict() for row in report.metrics[name].rows]


def _metric_name(request: web.Request) -> str:
    name = request.match_info["metric"]
    if name not in TITLES:
        raise web.HTTPNotFound(text=translator(language_of(request)).gettext("no such metric"))
    return name


async def metric_rows(request: web.Request) -> web.Response:
    name = _metric_name(request)
    gettext = translator(language_of(request)).gettext
    choice = choose(request, request.query)
    context: Dict[str, Any] = {**_form_context(choice), "metric": name, "title": gettext(TITLES[name][0]),
                               "what": gettext(TITLES[name][1])}
    if choice.period is not None:
        rows = await asyncio.to_thread(_report_rows, console_of(request).db, choice, name)
        names = await _names(request, [r["customer_id"] for r in rows[:ROWS_SHOWN]])
        context.update(total=len(rows), columns=[c for c in _columns(rows) if c != "customer_id"],
                       rows=[{**r, "_name": names.get(r["customer_id"], "")} for r in rows[:ROWS_SHOWN]],
                       cell=_page_cell(gettext, stamp_in(language_of(request))), shown_limit=ROWS_SHOWN,
                       column_title=column_title(gettext))
    return render(request, "insights_rows.html", context)


async def _names(request: web.Request, customer_ids: List[str]) -> dict:
    from threadline.console import reads

    return await reads.customer_names(console_of(request).db, sorted(set(customer_ids)))


def csv_text(rows: List[dict]) -> str:
    columns = _columns(rows) or ["customer_id"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_spreadsheet_safe(_cell(row.get(c))) for c in columns])
    return out.getvalue()


def _spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula: one that starts like a formula is quoted
    unless the whole cell is a number ("-3.5" stays a number; "-1+cmd|..." is quoted)."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def _export(db, choice: Choice, name: str, actor: str) -> Tuple[str, int]:
    rows = _report_rows(db, choice, name)
    what = {"metric": name, "from": choice.first, "to": choice.last, "channel": choice.channel or None,
            "rows": len(rows)}

    def audit(session) -> int:
        entry = AuditEntry(action=EXPORT_ACTION, actor=actor, customer_id="*",
                           reason=f"insights CSV export: {name} {choice.first}..{choice.last} "
                                  f"{choice.channel or 'all channels'} ({len(rows)} rows)",
                           undo_data=json.dumps(what), created_at=datetime.now(timezone.utc).replace(tzinfo=None))
        session.add(entry)
        session.flush()
        return entry.id

    audit_id = db.transaction(audit)  # recorded before a single row leaves
    return csv_text(rows), audit_id


async def export_csv(request: web.Request) -> web.StreamResponse:
    name = _metric_name(request)
    form = await request.post()
    choice = choose(request, form)
    if choice.period is None:
        raise web.HTTPSeeOther(f"/insights?{choice.query()}")
    agent = request["agent"]
    text, audit_id = await asyncio.to_thread(_export, console_of(request).db, choice, name, agent.name)
    filename = f"insights-{name}-{choice.first}-{choice.last}{'-' + choice.channel if choice.channel else ''}.csv"
    return web.Response(body=text.encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "X-Audit-Id": str(audit_id)})
