"""Business hours: `BUSINESS_HOURS` and `BUSINESS_TIMEZONE`, and durations counted only inside them.

`BUSINESS_HOURS` is a comma-separated list of `DAYS HH:MM-HH:MM`, where DAYS is a day (`mon`) or
a range (`mon-fri`), e.g. `mon-fri 09:00-18:00, sat 09:00-13:00`; a day may appear more than once
(`mon 09:00-12:00, mon 14:00-18:00`). `BUSINESS_TIMEZONE` is an IANA zone (default
`America/Sao_Paulo`, which has had no daylight saving time since 2019; zoneinfo handles zones
that do). Every instant the rest of the project stores is naive UTC; functions here take and
give naive UTC too.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Dict, List, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_HOURS = "mon-fri 09:00-18:00"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


class BusinessHoursError(ValueError):
    """A setting that cannot be read; the message names the setting and the bad part."""


def _clock(text: str, setting: str, part: str) -> time:
    hours, minutes = (int(n) for n in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if hours > 23 or minutes > 59:
        raise BusinessHoursError(f"{setting}: {text!r} in {part!r} is not a time of day (00:00-24:00)")
    return time(hours, minutes)


@dataclass(frozen=True)
class BusinessHours:
    """Opening windows per weekday (0 = Monday) in a time zone."""

    windows: Mapping[int, Tuple[Tuple[time, time], ...]]
    zone: ZoneInfo
    spec: str = DEFAULT_HOURS

    @classmethod
    def parse(cls, hours: str = DEFAULT_HOURS, zone: str = DEFAULT_TIMEZONE) -> "BusinessHours":
        hours_spec = (hours or "").strip().lower() or DEFAULT_HOURS
        zone_name = (zone or "").strip() or DEFAULT_TIMEZONE
        try:
            tz = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise BusinessHoursError(
                f"BUSINESS_TIMEZONE: {zone_name!r} is not a time zone (use an IANA name such as "
                f"{DEFAULT_TIMEZONE})") from None
        windows: Dict[int, List[Tuple[time, time]]] = {}
        for raw in hours_spec.split(","):
            part = " ".join(raw.split())
            match = _PART.match(part)
            if not match:
                raise BusinessHoursError(
                    f"BUSINESS_HOURS: {part or raw!r} is not `DAYS HH:MM-HH:MM` (e.g. `{DEFAULT_HOURS}`)")
            first, _, last = match["days"].partition("-")
            for day in (first, last or first):
                if day not in DAYS:
                    raise BusinessHoursError(f"BUSINESS_HOURS: {day!r} in {part!r} is not a day ({', '.join(DAYS)})")
            start = _clock(match["start"], "BUSINESS_HOURS", part)
            end = _clock(match["end"], "BUSINESS_HOURS", part)
            if end <= start:
                raise BusinessHoursError(f"BUSINESS_HOURS: {part!r} closes before it opens")
            a, b = DAYS.index(first), DAYS.index(last or first)
            days = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]  # sat-mon wraps
            for day in days:
                windows.setdefault(day, []).append((start, end))
        for day, spans in windows.items():
            spans.sort()
            for (s1, e1), (s2, _e2) in zip(spans, spans[1:]):
                if s2 < e1:
                    raise BusinessHoursError(f"BUSINESS_HOURS: two windows overlap on {DAYS[day]}")
        return cls({d: tuple(w) for d, w in windows.items()}, tz, hours_spec)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "BusinessHours":
        env = os.environ if environ is None else environ
        return cls.parse(env.get("BUSINESS_HOURS", ""), env.get("BUSINESS_TIMEZONE", ""))

    @property
    def weekly_seconds(self) -> float:
        return sum(_span(s, e) for spans in self.windows.values() for s, e in spans)

    def local(self, instant: datetime) -> datetime:
        """A naive-UTC instant as local wall time (aware)."""
        return instant.replace(tzinfo=timezone.utc).astimezone(self.zone)

    def to_utc(self, local_day: date, at: time = time(0)) -> datetime:
        """Local midnight (or `at`) of a local day, as naive UTC."""
        return datetime.combine(local_day, at, self.zone).astimezone(timezone.utc).replace(tzinfo=None)

    def _window_utc(self, day: date, start: time, end: time) -> Tuple[datetime, datetime]:
        opens = self.to_utc(day, start)
        closes = self.to_utc(day + timedelta(days=1)) if end == time.max else self.to_utc(day, end)
        return opens, closes

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of business hours between two naive-UTC instants (0 when end <= start)."""
        if end <= start:
            return 0.0
        total = 0.0
        first = self.local(start).date() - timedelta(days=1)
        last = self.local(end).date() + timedelta(days=1)
        days = (last - first).days
        weeks = max(0, days // 7 - 2)  # whole weeks in the middle are counted at once
        if weeks:
            middle_start = first + timedelta(days=7)
            middle_end = middle_start + timedelta(days=7 * weeks)
            total += self._count(start, end, first, middle_start)
            total += weeks * self.weekly_seconds if self._no_gap(middle_start, middle_end) else \
                self._count(start, end, middle_start, middle_end)
            total += self._count(start, end, middle_end, last + timedelta(days=1))
            return total
        return self._count(start, end, first, last + timedelta(days=1))

    def _no_gap(self, a: date, b: date) -> bool:
        """True when the zone's UTC offset is the same over [a, b): a week is then exactly
        `weekly_seconds` long (a DST change would make it an hour longer or shorter)."""
        return self.to_utc(a) - datetime.combine(a, time(0)) == self.to_utc(b) - datetime.combine(b, time(0))

    def _count(self, start: datetime, end: datetime, a: date, b: date) -> float:
        total = 0.0
        day = a
        while day < b:
            for s, e in self.windows.get(day.weekday(), ()):
                opens, closes = self._window_utc(day, s, e)
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


def _span(start: time, end: time) -> float:
    def seconds(t: time) -> float:
        return 86400.0 if t == time.max else t.hour * 3600 + t.minute * 60
    return seconds(end) - seconds(start)
