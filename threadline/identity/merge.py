"""`MergeCustomers` and `UnlinkCustomer`: two records become one person, and back.

A merge holds both customers' conversation locks (in sorted id order, so two merges can't
deadlock) and runs in steps, each of which finds out whether it was already done, so a merge
that stopped anywhere (the process killed, Redis away) is finished by running it again
(threadline/identity/merge_jobs.py does, for merges after a verified claim):

1. CRM, one transaction: settle open handoffs (both customers may keep at most one: the older
   stays, the newer is closed with a note naming this merge), re-point every row the merged
   customer owns (any table with a `customer_id` column, so tables added later follow), keep
   the merged id as an alias and write the audit entry, which stores what moved (what
   `UnlinkCustomer` moves back). Skipped when the merged customer is already this survivor's.
2. The Redis index learns the alias: new messages for the merged id go to the survivor.
3. The conversation log: the merged customer's events join the survivor's, in time order, and
   the merged log is emptied. Events keep their stable ids (threadline.conversation.event_ids),
   so readers keyed on them (the CRM timeline) find every event they already have; events the
   survivor's log already holds are not added again.
4. The index's identifiers and routes are refreshed from the CRM.

An unlink puts each customer's events back in their own log and moves back, besides the rows
the merge moved, every interaction keyed by one of the merged customer's events (also the ones
the timeline wrote for them after the merge), so the survivor's timeline and console no longer
show the other person's messages.
"""
from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from threadline.conversation import failpoints
from threadline.conversation.event_ids import ORIGIN, event_id
from threadline.crm import Database
from threadline.crm.aggregates import mark_changed
from threadline.crm.models import Base, Customer, CustomerAlias, Handoff, HandoffEvent, IdentifierOwner, Interaction
from threadline.crm.models.base import utcnow
from threadline.crm.models.handoffs import OPEN_STATUSES
from threadline.crm.timeline import earlier_keys
from threadline.identity import audit, directory, history
from threadline.identity.addresses import InvalidAddress, identifier_for
from threadline.identity.index import IdentityIndex
from threadline.identity.ports import ConversationLocks, HistoryStore

# Rows of these tables describe the customer record itself, not things it owns. The Insights
# aggregates are counters, not rows a customer owns: a merge leaves the daily counters as they
# were counted (`bin/threadline metrics --rebuild-aggregates` recounts them under the survivor)
# and marks both customers for the cycle facts, which the next refresh recomputes from the rows.
NOT_MOVED = {"audit_log", "insights_daily", "insights_customer_days", "insights_cycle_state", "insights_cycles",
             "insights_changed"}
MERGE_ACTOR = "merge"  # who closed a handoff the merge had to close (handoff_events.actor)
KEYS_PER_STATEMENT = 500


class MergeRefused(ValueError):
    pass


class AlreadyOneCustomer(MergeRefused):
    """Both ids lead to the same customer already."""


class ChangedMeanwhile(MergeRefused):
    """Another merge changed one of the customers while this one waited for the locks."""


@dataclass(frozen=True)
class MergeResult:
    audit_id: int
    customer_id: str  # the surviving customer
    merged_id: str


def _owned_tables():
    return [t for t in Base.metadata.sorted_tables if "customer_id" in t.c and t.name not in NOT_MOVED]


def move_rows(session: Session, source: str, target: str) -> dict:
    """Re-point every row owned by `source` to `target`; returns {table: [primary keys]}."""
    moved = {}
    for table in _owned_tables():
        pk = list(table.primary_key.columns)
        rows = session.execute(select(*pk).where(table.c.customer_id == source)).all()
        if rows:
            session.execute(update(table).where(table.c.customer_id == source).values(customer_id=target))
            moved[table.name] = [list(row) for row in rows]
    return moved


def move_back(session: Session, moved: dict, source: str, target: str) -> None:
    """Move the recorded rows that still belong to `source` back to `target`."""
    for name, keys in moved.items():
        table = Base.metadata.tables[name]
        pk = list(table.primary_key.columns)
        for values in keys:
            match = and_(table.c.customer_id == source, *[c == v for c, v in zip(pk, values)])
            session.execute(update(table).where(match).values(customer_id=target))


def merged_event_keys(survivor_id: str, events: Sequence[dict], merged_id: str) -> Dict[str, Tuple[str, ...]]:
    """The events in the survivor's log that this merge brought from the merged customer:
    stable id → the keys rows written before ids existed have for it."""
    keys: Dict[str, Tuple[str, ...]] = {}
    for event in events:
        origins = event.get(ORIGIN) or []
        if origins and origins[-1] == merged_id:
            keys[event_id(survivor_id, event)] = earlier_keys(survivor_id, event)
    return keys


def _chunks(keys: Sequence[str]) -> list:
    return [list(keys[first:first + KEYS_PER_STATEMENT]) for first in range(0, len(keys), KEYS_PER_STATEMENT)]


def move_interactions_back(session: Session, keys: Dict[str, Tuple[str, ...]], source: str, target: str) -> None:
    """The interactions of these events that `source` holds go to `target`: also those the
    timeline wrote after the merge, which the merge's record of moved rows lacks. A row keyed the
    earlier way gets the stable id, which is the only key the event has once it left the merge."""
    ids = list(keys)
    for chunk in _chunks(ids):
        session.execute(update(Interaction).where(
            Interaction.customer_id == source, Interaction.idempotency_key.in_(chunk)).values(customer_id=target))
    earlier = {old: stable for stable, olds in keys.items() for old in olds}
    if not earlier:
        return
    taken = {key for chunk in _chunks(ids) for key in session.scalars(
        select(Interaction.idempotency_key).where(Interaction.idempotency_key.in_(chunk)))}
    for chunk in _chunks(list(earlier)):
        for row in session.scalars(select(Interaction).where(
                Interaction.customer_id == source, Interaction.idempotency_key.in_(chunk))).all():
            row.customer_id = target
            if earlier[row.idempotency_key] not in taken:
                row.idempotency_key = earlier[row.idempotency_key]


async def hold_locks(stack: AsyncExitStack, locks: ConversationLocks, *customer_ids: str) -> None:
    """Both customers' locks, always taken in the same (sorted) order."""
    for customer_id in sorted(set(customer_ids)):
        await stack.enter_async_context(locks.lock(customer_id))


def close_newer_open_handoffs(session: Session, survivor_id: str,
                              merged_id: str) -> Tuple[Optional[Handoff], List[Handoff]]:
    """The open-handoff rule of a merge: of both customers' open handoffs the oldest stays, the
    others are closed (a customer has at most one open handoff). Returns (kept, closed)."""
    rows = session.scalars(select(Handoff).where(
        Handoff.customer_id.in_((survivor_id, merged_id)), Handoff.status.in_(OPEN_STATUSES),
    ).order_by(Handoff.created_at, Handoff.id)).all()
    if len(rows) < 2:
        return None, []
    now = utcnow()
    for row in rows[1:]:
        row.status, row.resolution, row.resolved_at = "resolved", "closed", now
    session.flush()  # closed before the merged customer's rows join the survivor's
    return rows[0], list(rows[1:])


def note_closed_handoffs(session: Session, kept: Handoff, closed: Sequence[Handoff], audit_id: int,
                         survivor_id: str, merged_id: str) -> None:
    for row in closed:
        session.add(HandoffEvent(
            handoff_id=row.id, actor=MERGE_ACTOR, kind="closed", at=utcnow(),
            detail=(f"Closed by merge #{audit_id} ({merged_id} into {survivor_id}): the customer "
                    f"already had handoff {kept.id}, opened earlier, which stays open.")))


class MergeCustomers:
    def __init__(self, db: Database, index: IdentityIndex, histories: HistoryStore, locks: ConversationLocks) -> None:
        self.db, self.index, self.histories, self.locks = db, index, histories, locks

    async def __call__(self, survivor_id: str, merged_id: str, *, actor: str, reason: str) -> MergeResult:
        """Merge, or finish a merge of this pair that stopped half-way."""
        survivor_id, merged_id = await self.db.run(lambda s: self._pair(s, survivor_id, merged_id))
        async with AsyncExitStack() as stack:
            await hold_locks(stack, self.locks, survivor_id, merged_id)
            entry_id = await self.db.run(lambda s: self._merge_records(s, survivor_id, merged_id, actor, reason))
            # From here new messages for the merged id resolve to the survivor and queue on its lock.
            await self.index.set_alias(merged_id, survivor_id)
            failpoints.reach(failpoints.DURING_MERGE)
            await self._combine_logs(survivor_id, merged_id)
            await refresh_index(self.db, self.index, survivor_id, merged_id)
        return MergeResult(entry_id, survivor_id, merged_id)

    @staticmethod
    def _pair(session: Session, survivor_id: str, merged_id: str) -> tuple:
        """(survivor, merged) as they are now; a merged id already folded into this survivor
        (a merge that stopped half-way) is kept, to be finished."""
        survivor_id = directory.canonical_customer(session, survivor_id)
        merged = session.get(Customer, merged_id)
        if merged is not None and merged.merged_into == survivor_id:
            return survivor_id, merged_id
        ids = survivor_id, directory.canonical_customer(session, merged_id)
        if ids[0] == ids[1]:
            raise AlreadyOneCustomer("these ids are already one customer")
        try:
            directory.refuse_unverified_contact(session, *ids)
        except directory.UnverifiedContact as refused:
            raise MergeRefused(str(refused)) from None
        return ids

    @staticmethod
    def _merge_records(session: Session, survivor_id: str, merged_id: str, actor: str, reason: str) -> int:
        """The CRM step; the audit id of the merge (an earlier run's when it was done already)."""
        # Locked first: a timeline write for the merged customer waits for this transaction and
        # then finds the survivor (threadline.crm.sql_backend.rehome_if_merged_meanwhile).
        merged = session.get(Customer, merged_id, with_for_update=True)
        survivor = session.get(Customer, survivor_id)
        if merged.merged_into == survivor_id:
            return session.get(CustomerAlias, merged_id).audit_id
        if survivor.merged_into or merged.merged_into:
            raise ChangedMeanwhile("a customer changed while waiting for the locks; retry")
        kept, closed = close_newer_open_handoffs(session, survivor_id, merged_id)
        moved = move_rows(session, merged_id, survivor_id)
        mark_changed(session, (merged_id, survivor_id))
        entry = audit.record(session, "merge", actor, reason, survivor_id, merged_id,
                             undo={"moved": moved, "closed_handoffs": [row.id for row in closed]})
        note_closed_handoffs(session, kept, closed, entry.id, survivor_id, merged_id)
        merged.merged_into = survivor_id
        session.add(CustomerAlias(alias_id=merged_id, customer_id=survivor_id, audit_id=entry.id, created_at=utcnow()))
        return entry.id

    async def _combine_logs(self, survivor_id: str, merged_id: str) -> None:
        """Move the merged customer's events into the survivor's log, once: a run that stopped
        after the survivor's log was rewritten finds them there and only empties the other."""
        merged_events = await self.histories.read_history(merged_id)
        if not merged_events:
            return
        survivor_events = await self.histories.read_history(survivor_id)
        present = {event_id(survivor_id, event) for event in survivor_events}
        missing = [event for event in merged_events if event_id(merged_id, event) not in present]
        if missing:
            await self.histories.rewrite_history(
                survivor_id, history.combine(survivor_id, survivor_events, merged_id, missing))
        await self.histories.rewrite_history(merged_id, [])


class UnlinkCustomer:
    """Undo a merge: both customers back, each with their own identities, rows and events."""

    def __init__(self, db: Database, index: IdentityIndex, histories: HistoryStore, locks: ConversationLocks) -> None:
        self.db, self.index, self.histories, self.locks = db, index, histories, locks

    async def __call__(self, merge_audit_id: int, *, actor: str, reason: str) -> int:
        entry = await self.db.run(lambda s: audit.open_entry(s, merge_audit_id, ("merge",)))
        survivor_id, merged_id = entry.customer_id, entry.other_customer_id
        async with AsyncExitStack() as stack:
            await hold_locks(stack, self.locks, survivor_id, merged_id)
            events = await self.histories.read_history(survivor_id)
            returning = await self.db.run(lambda s: identifiers_returning(s, merge_audit_id))
            wrote_it = functools.partial(written_from, identifier_keys=returning)
            merged_keys = merged_event_keys(survivor_id, events, merged_id)
            for position in history.turns_after_merge(events, survivor_id, merged_id, wrote_it):
                merged_keys[event_id(survivor_id, events[position])] = ()
            survivor_events, merged_events = history.split(events, survivor_id, merged_id, wrote_it)
            unlink_id = await self.db.run(
                lambda s: self._split_records(s, merge_audit_id, survivor_id, merged_id, actor, reason, merged_keys))
            await self.index.drop_alias(merged_id)
            await self.histories.rewrite_history(merged_id, merged_events)
            await self.histories.rewrite_history(survivor_id, survivor_events)
            await refresh_index(self.db, self.index, survivor_id, merged_id)
        return unlink_id

    @staticmethod
    def _split_records(session: Session, merge_audit_id: int, survivor_id: str, merged_id: str,
                       actor: str, reason: str, merged_keys: Dict[str, Tuple[str, ...]]) -> int:
        entry = audit.open_entry(session, merge_audit_id, ("merge",))
        if session.get(Customer, survivor_id).merged_into is not None:
            raise MergeRefused(f"{survivor_id} was merged again later; unlink that merge first")
        move_interactions_back(session, merged_keys, survivor_id, merged_id)  # first: it also re-keys
        move_back(session, audit.undo_data(entry)["moved"], survivor_id, merged_id)
        mark_changed(session, (merged_id, survivor_id))
        session.query(CustomerAlias).filter_by(alias_id=merged_id).delete()
        session.get(Customer, merged_id).merged_into = None
        unlink = audit.record(session, "unlink", actor, reason, survivor_id, merged_id,
                              undo={"merge_audit_id": merge_audit_id})
        entry.undone_by = unlink.id
        return unlink.id


def identifiers_returning(session: Session, merge_audit_id: int) -> FrozenSet[str]:
    """The identifier keys an unlink of this merge gives back to the merged customer."""
    moved = audit.undo_data(audit.open_entry(session, merge_audit_id, ("merge",)))["moved"]
    return frozenset(str(primary_key[0]) for primary_key in moved.get(IdentifierOwner.__tablename__, []))


def written_from(event: dict, identifier_keys: FrozenSet[str]) -> bool:
    """Whether a user event came from one of these identifiers (its channel and address)."""
    metadata = event.get("metadata") or {}
    if not isinstance(metadata, dict) or metadata.get("sender_verified") is False:
        return False
    try:
        return identifier_for(metadata.get("channel"), metadata.get("address")).key in identifier_keys
    except InvalidAddress:
        return False


def latest_merge_of(session: Session, merged_id: str) -> int:
    """The audit id of the merge that folded `merged_id` into another customer."""
    alias = session.get(CustomerAlias, merged_id)
    if alias is None:
        raise audit.AuditError(f"{merged_id} is not merged into anyone")
    return alias.audit_id


async def refresh_index(db: Database, index: IdentityIndex, *customer_ids: str) -> None:
    """Re-read these customers' identifiers and routes from the CRM into Redis."""
    def read(session):
        return {c: (directory.owned_keys(session, c), directory.routes_of(session, c)) for c in customer_ids}

    for customer_id, (keys, routes) in (await db.run(read)).items():
        await index.assign({key: customer_id for key in keys})
        await index.replace_routes(customer_id, routes)
