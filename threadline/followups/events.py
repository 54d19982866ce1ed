"""Passes on events (issue #18): when a customer writes, an agent answers or a lead changes stage,
that customer's items are looked at again within seconds, not at the next scheduled pass.

The events are read where they are recorded, in the CRM: `CustomerChanges` remembers the highest
interaction and stage-change ids it has seen and returns the customers with newer rows. Nothing
else has to tell the follow-up worker anything (no new Redis keys, no call from the timeline
worker upwards), and a worker that was down misses nothing: its first look starts from now, and
the scheduled pass covers everyone anyway. An id committed out of order (PostgreSQL hands ids out
before commit) may be passed over here; the scheduled pass is the safety net for it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Collection, Dict, Optional, Set

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Interaction, Opportunity, OpportunityStageChange

log = logging.getLogger("threadline.followups")

Pass = Callable[[Optional[Collection[str]]], Awaitable[Any]]  # RunFollowUps: everyone, or these customers


class CustomerChanges:
    """The customers with new interactions or stage changes since the previous call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._seen: Optional[Dict[str, int]] = None  # highest id seen: interactions, stage changes

    async def __call__(self) -> Set[str]:
        return await self.db.run(self._changed)

    def _changed(self, session: Session) -> Set[str]:
        latest = {"interactions": session.scalar(select(func.max(Interaction.id))) or 0,
                  "stage_changes": session.scalar(select(func.max(OpportunityStageChange.id))) or 0}
        seen, self._seen = self._seen, latest
        if seen is None:  # the first look: what came before is the scheduled pass's
            return set()
        customers = set(session.scalars(select(Interaction.customer_id).where(
            Interaction.id > seen["interactions"], Interaction.id <= latest["interactions"]).distinct()))
        customers |= set(session.scalars(select(Opportunity.customer_id).join(
            OpportunityStageChange, OpportunityStageChange.opportunity_id == Opportunity.id).where(
            OpportunityStageChange.id > seen["stage_changes"],
            OpportunityStageChange.id <= latest["stage_changes"]).distinct()))
        return customers


async def keep_passing(run: Pass, changes: Callable[[], Awaitable[Set[str]]], interval_s: float,
                       events_interval_s: float, stop: asyncio.Event, status: Dict[str, Any]) -> None:
    """A pass over everyone every `interval_s`; in between, every `events_interval_s`, a pass
    over the customers `changes` names. A failing pass never ends the loop (`status` says it)."""
    next_full = 0.0
    while not stop.is_set():
        started = time.monotonic()
        try:
            if started >= next_full:
                next_full = started + interval_s
                await run(None)
                await changes()  # what this pass saw needs no pass of its own
                status["passes"] += 1
                status["last_pass_at"] = time.time()
            else:
                customers = await changes()
                if customers:
                    await run(sorted(customers))
                    status["event_passes"] += 1
            status["last_error"] = None
        except Exception as error:  # a bad pass must not end the worker; the next one tries again
            status["last_error"] = type(error).__name__
            log.error("followups: pass failed (%s)", type(error).__name__)  # no text: it may hold customer data
        wait = max(0.0, min(events_interval_s, next_full - time.monotonic()))
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except asyncio.TimeoutError:
            pass
