"""Operations insight: care cycles and the metrics of docs/insights.md.

The small API the CLI (`bin/threadline metrics`) and the console page both call:

    period = Period.parse("2026-11-01", "2026-11-30", hours)   # PeriodError on bad input
    report = insights_report(database, period, channel="whatsapp")
    report.metrics["no_follow_up"].value, report.metrics["no_follow_up"].rows, report.to_dict()

`threadline.insights.metrics.compute(dataset, query, config)` is the pure part, fed by
`load.read_dataset` today and by incremental aggregates later.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional

from threadline.crm.models.base import utcnow
from threadline.insights.business_hours import BusinessHours, BusinessHoursError
from threadline.insights.metrics import METRICS, InsightsConfig, Query, Report, compute

CHANNELS = ("whatsapp", "instagram", "sms", "rcs", "email", "webchat")
MAX_RANGE_DAYS = 366


class PeriodError(ValueError):
    """A date range or channel the metrics cannot be asked for; the message says why."""


@dataclass(frozen=True)
class Period:
    """Whole local days [first, last] in the business time zone."""
    first: date
    last: date
    hours: BusinessHours

    @classmethod
    def parse(cls, first: str, last: str, hours: BusinessHours) -> "Period":
        days = []
        for name, raw in (("--from", first), ("--to", last)):
            try:
                days.append(date.fromisoformat(str(raw).strip()))
            except ValueError:
                raise PeriodError(f"{name} {raw!r} is not a date (YYYY-MM-DD)") from None
        return cls.of(days[0], days[1], hours)

    @classmethod
    def of(cls, first: date, last: date, hours: BusinessHours) -> "Period":
        if last < first:
            raise PeriodError(f"the range ends ({last}) before it starts ({first})")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise PeriodError(f"the range is {(last - first).days + 1} days; at most {MAX_RANGE_DAYS} days at a time")
        return cls(first, last, hours)

    @property
    def start(self) -> datetime:
        return self.hours.to_utc(self.first)

    @property
    def end(self) -> datetime:
        return self.hours.to_utc(self.last + timedelta(days=1))


def check_channel(channel: Optional[str]) -> Optional[str]:
    if channel is None:
        return None
    name = channel.strip().lower()
    if name not in CHANNELS:
        raise PeriodError(f"unknown channel {channel!r} (one of: {', '.join(CHANNELS)})")
    return name


def insights_report(database, period: Period, channel: Optional[str] = None, *,
                    as_of: Optional[datetime] = None, config: Optional[InsightsConfig] = None) -> Report:
    """Every metric for `period` (and `channel`), as of `as_of` (default: now)."""
    from threadline.insights.load import load_dataset

    as_of = as_of or utcnow()
    config = config or InsightsConfig(hours=period.hours)
    query = Query(period.start, period.end, as_of, check_channel(channel))
    return compute(load_dataset(database, query.start, query.end, as_of), query, config)


__all__ = ["BusinessHours", "BusinessHoursError", "CHANNELS", "InsightsConfig", "METRICS", "Period",
           "PeriodError", "Query", "Report", "check_channel", "compute", "insights_report"]
