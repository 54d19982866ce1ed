"""Durable merges: a verified claim's merge is a row in `merge_jobs`, run until it is done.

`VerifyClaim` writes the job in the transaction that marks the claim verified, so a verified
claim always has its merge, whatever happens to the process afterwards. The action server
runs jobs (actions/identity_claims.py): the one a turn just wrote, as soon as that turn
releases the customer's lock, and every due one in a sweep when it starts and then every
SWEEP_S seconds. `python -m threadline.identity.merge_jobs` runs the due jobs once (operators,
tests).

A run counts as an attempt before it starts, so a run killed half-way is counted too. The
merge itself is resumable (threadline/identity/merge.py): a job that finds its merge done, or
half done, finishes it without doing anything twice. A failed run is retried after
BACKOFF_FIRST_S, doubling up to BACKOFF_MAX_S; a merge that can never happen (one of the
records was merged elsewhere and the merge is refused) is marked `failed` with the reason.
Nothing about the customers' messages is logged.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, List, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import MergeJob
from threadline.crm.models.base import utcnow
from threadline.identity.merge import AlreadyOneCustomer, ChangedMeanwhile, MergeCustomers, MergeRefused, MergeResult

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 300.0
SWEEP_S = 15.0
DUE_PER_SWEEP = 50


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    status: str  # done | pending (retried later) | failed
    merge: Optional[MergeResult] = None


def enqueue(session: Session, survivor_id: str, merged_id: str, *, actor: str, reason: str,
            claim_id: Optional[int] = None) -> int:
    """Write a merge job in the caller's transaction; returns its id."""
    now = utcnow()
    job = MergeJob(survivor_id=survivor_id, merged_id=merged_id, claim_id=claim_id, actor=actor,
                   reason=reason, status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(job)
    session.flush()
    return job.id


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:200]


class MergeJobs:
    def __init__(self, db: Database, merge: MergeCustomers, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.merge, self.clock = db, merge, clock

    async def run(self, job_id: int) -> JobOutcome:
        """Run one job now (whatever its next attempt time) unless it is finished already."""
        job = await self.db.run(lambda s: self._start(s, job_id))
        if job is None:
            status = await self.db.run(lambda s: s.get(MergeJob, job_id).status)
            return JobOutcome(job_id, status)
        survivor_id, merged_id, actor, reason = job
        try:
            result = await self.merge(survivor_id, merged_id, actor=actor, reason=reason)
        except AlreadyOneCustomer:  # an earlier run, or an operator, did it
            await self.db.run(lambda s: self._finish(s, job_id, "done", None, None))
            return JobOutcome(job_id, "done")
        except ChangedMeanwhile as changed:  # the next run sees the records as they are now
            await self.db.run(lambda s: self._retry_later(s, job_id, _short(changed)))
            return JobOutcome(job_id, "pending")
        except MergeRefused as refused:
            # The records changed meanwhile (merged elsewhere, an unverified contact): retrying
            # cannot help; an operator can merge them (`bin/threadline merge`).
            log.error("merge job %d refused: %s", job_id, refused)
            await self.db.run(lambda s: self._finish(s, job_id, "failed", None, _short(refused)))
            return JobOutcome(job_id, "failed")
        except Exception as error:  # Redis or the CRM away, a lock not granted: try again later
            log.warning("merge job %d: %s; retried later", job_id, type(error).__name__)
            await self.db.run(lambda s: self._retry_later(s, job_id, _short(error)))
            return JobOutcome(job_id, "pending")
        await self.db.run(lambda s: self._finish(s, job_id, "done", result.audit_id, None))
        log.info("merge job %d done (audit #%d)", job_id, result.audit_id)
        return JobOutcome(job_id, "done", result)

    async def due(self) -> List[int]:
        def work(session: Session) -> List[int]:
            return list(session.scalars(select(MergeJob.id).where(
                MergeJob.status == "pending", MergeJob.next_attempt_at <= self.clock(),
            ).order_by(MergeJob.next_attempt_at, MergeJob.id).limit(DUE_PER_SWEEP)).all())

        return await self.db.run(work)

    async def run_due(self) -> List[JobOutcome]:
        """Run every due job, one after another (each takes two customers' locks)."""
        return [await self.run(job_id) for job_id in await self.due()]

    async def sweep_forever(self, stop: asyncio.Event) -> None:
        """Run due jobs now and every SWEEP_S seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as error:  # the CRM away: the jobs wait in their table
                log.warning("merge jobs sweep: %s; next sweep in %.0fs", type(error).__name__, SWEEP_S)
            try:
                await asyncio.wait_for(stop.wait(), SWEEP_S)
            except asyncio.TimeoutError:
                pass

    def _start(self, session: Session, job_id: int) -> Optional[tuple]:
        """Count the attempt (committed before the merge runs); None when the job is finished."""
        counted = session.execute(update(MergeJob).where(
            MergeJob.id == job_id, MergeJob.status == "pending",
        ).values(attempts=MergeJob.attempts + 1))
        if counted.rowcount != 1:
            return None
        job = session.get(MergeJob, job_id)
        return job.survivor_id, job.merged_id, job.actor, job.reason

    def _finish(self, session: Session, job_id: int, status: str, audit_id: Optional[int],
                error: Optional[str]) -> None:
        job = session.get(MergeJob, job_id)
        job.status, job.finished_at = status, self.clock()
        job.audit_id = audit_id or job.audit_id
        job.last_error = error

    def _retry_later(self, session: Session, job_id: int, error: str) -> None:
        job = session.get(MergeJob, job_id)
        job.last_error = error
        job.next_attempt_at = self.clock() + backoff(job.attempts)


async def run_due_once() -> List[JobOutcome]:
    """The due jobs of the CRM_DATABASE_URL database, with REDIS_URL's log, locks and index."""
    from threadline.identity.services import IdentityServices

    services = await asyncio.to_thread(IdentityServices.from_env)
    try:
        return await services.merge_jobs().run_due()
    finally:
        await services.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not os.environ.get("REDIS_URL", "").strip():
        raise SystemExit("merge jobs: REDIS_URL is not set")
    outcomes = asyncio.run(run_due_once())
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "pending", "failed")}
    print(f"merge jobs: {len(outcomes)} run, {counts['done']} done, {counts['pending']} to retry, "
          f"{counts['failed']} failed")


if __name__ == "__main__":
    main()
