"""`ArchiveOldSessions`: the explicit retention policy for conversation history.

History is kept forever by default; `RetentionPolicy` makes the cut-off explicit and
configurable (THREADLINE_RETENTION_DAYS, THREADLINE_ARCHIVE_DIR), for one scheduled
`bin/threadline tracker archive` (a cron job or a Kubernetes CronJob: docs/deploy.md). This
operation moves whole sessions whose last event is
older than a cut-off into a gzip JSON-lines file, then trims them from Redis. The current
(last) session of a customer is never archived, so `retrieve` is unaffected; offsets are
absolute, so the session index stays valid after the trim.

The file is written and synced before anything is trimmed: a crash in between leaves the
sessions both in Redis and in the file (archiving again writes them again, with the same
offsets), never in neither.
"""
from __future__ import annotations

import gzip
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from threadline.conversation.tracker_store import CustomerTrackerStore

SECONDS_PER_DAY = 86400
RETENTION_DAYS_ENV = "THREADLINE_RETENTION_DAYS"
ARCHIVE_DIR_ENV = "THREADLINE_ARCHIVE_DIR"


@dataclass(frozen=True)
class RetentionPolicy:
    """Sessions older than `older_than_days` go to gzip files in `archive_dir`; None keeps all."""

    older_than_days: Optional[float]
    archive_dir: Path

    @classmethod
    def from_env(cls, var_dir: Path) -> "RetentionPolicy":
        raw = os.environ.get(RETENTION_DAYS_ENV, "").strip()
        days: Optional[float] = None
        if raw:
            try:
                days = float(raw)
            except ValueError:
                raise ValueError(f"{RETENTION_DAYS_ENV} must be a number of days, got {raw!r}") from None
            if not days >= 0 or days == float("inf"):
                raise ValueError(f"{RETENTION_DAYS_ENV} must be zero or more days, got {raw!r}")
        folder = os.environ.get(ARCHIVE_DIR_ENV, "").strip()
        return cls(days, Path(folder) if folder else var_dir / "archive")


@dataclass
class ArchiveReport:
    file: Optional[str] = None
    customers: int = 0
    sessions: int = 0
    events: int = 0
    conflicts: List[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Plan:
    customer_id: str
    base: int
    cut: int
    sessions: List[Tuple[int, int]]


@dataclass
class ArchiveOldSessions:
    store: CustomerTrackerStore
    archive_dir: Path

    async def run(self, older_than_days: float, now: Optional[float] = None) -> ArchiveReport:
        if older_than_days < 0:
            raise ValueError("--older-than must be zero or more days")
        cutoff = (now or time.time()) - older_than_days * SECONDS_PER_DAY
        report = ArchiveReport()
        plans = []
        for customer_id in await self.store.keys():
            plan = await self._plan(customer_id, cutoff)
            if plan is not None:
                plans.append(plan)
        if not plans:
            return report
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.archive_dir / f"tracker-{stamp}-{os.getpid()}.jsonl.gz"
        await self._write(path, plans)
        report.file = str(path)
        for plan in plans:
            trimmed = await self.store.log.trim_before(plan.customer_id, plan.cut, plan.base)
            if trimmed < 0:
                report.conflicts.append(plan.customer_id)
                continue
            report.customers += 1
            report.sessions += len(plan.sessions)
            report.events += trimmed
        return report

    async def _plan(self, customer_id: str, cutoff: float) -> Optional[_Plan]:
        """The old sessions at the front of the history, never including the last one."""
        layout = await self.store.layout(customer_id)
        old: List[Tuple[int, int]] = []
        for first, end in layout.session_bounds()[:-1]:
            last_event = await self.store.log.read_range(customer_id, end - 1, end, layout.base)
            if not last_event or json.loads(last_event[0]).get("timestamp", 0) >= cutoff:
                break
            old.append((first, end))
        if not old:
            return None
        return _Plan(customer_id, layout.base, old[-1][1], old)

    async def _write(self, path: Path, plans: List[_Plan]) -> None:
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
            for plan in plans:
                for first, end in plan.sessions:
                    events = await self.store.log.read_range(plan.customer_id, first, end, plan.base)
                    line = {
                        "customer_id": plan.customer_id,
                        "first_offset": first,
                        "events": [json.loads(e) for e in events],
                    }
                    out.write(json.dumps(line).encode() + b"\n")
            out.close()
            raw.flush()
            os.fsync(raw.fileno())


def read_archive(path: Path) -> List[dict]:
    """The session records of an archive file, for restores and tests."""
    with gzip.open(path, "rt") as lines:
        return [json.loads(line) for line in lines]
