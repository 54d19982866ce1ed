"""The one clock every follow-up decision reads time through (issue #18).

The worker uses `SystemClock`; tests and `bin/threadline followups --dry-run --at ...` use
`FixedClock`, so "three days later" is a call, not a wait. Times are naive UTC like the CRM's.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from threadline.crm.models.base import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, **delta: float) -> datetime:
        self._at += timedelta(**delta)
        return self._at
