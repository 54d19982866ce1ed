"""`MergeCustomers` and `UnlinkCustomer`: two records become one person, and back.

A merge holds both customers' conversation locks (in sorted id order, so two merges can't
deadlock), re-points every CRM row that belongs to the merged customer (any table with a
`customer_id` column, so tables added later follow automatically), keeps the merged id as an
alias, combines tracker histories in time order and updates the Redis index. The audit
entry stores which rows moved, which is what `UnlinkCustomer` uses to move them back.
"""
from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import AuditEntry, Base, Customer, CustomerAlias
from threadline.crm.models.base import utcnow
from threadline.identity import audit, directory, history
from threadline.identity.index import IdentityIndex
from threadline.identity.ports import ConversationLocks, HistoryStore

# Rows of these tables describe the customer record itself, not things it owns.
NOT_MOVED = {"audit_log"}


class MergeRefused(ValueError):
    pass


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


async def hold_locks(stack: AsyncExitStack, locks: ConversationLocks, *customer_ids: str) -> None:
    """Both customers' locks, always taken in the same (sorted) order."""
    for customer_id in sorted(set(customer_ids)):
        await stack.enter_async_context(locks.lock(customer_id))


class MergeCustomers:
    def __init__(self, db: Database, index: IdentityIndex, histories: HistoryStore, locks: ConversationLocks) -> None:
        self.db, self.index, self.histories, self.locks = db, index, histories, locks

    async def __call__(self, survivor_id: str, merged_id: str, *, actor: str, reason: str) -> MergeResult:
        def canonical_pair(session: Session) -> tuple:
            ids = directory.canonical_customer(session, survivor_id), directory.canonical_customer(session, merged_id)
            try:
                directory.refuse_unverified_contact(session, *ids)
            except directory.UnverifiedContact as refused:
                raise MergeRefused(str(refused)) from None
            return ids

        survivor_id, merged_id = await self.db.run(canonical_pair)
        if survivor_id == merged_id:
            raise MergeRefused("these ids are already one customer")
        async with AsyncExitStack() as stack:
            await hold_locks(stack, self.locks, survivor_id, merged_id)
            entry_id, moved = await self.db.run(lambda s: self._merge_records(s, survivor_id, merged_id, actor, reason))
            # From here new messages for the merged id resolve to the survivor and queue on its lock.
            await self.index.set_alias(merged_id, survivor_id)
            try:
                combined = history.combine(
                    survivor_id, await self.histories.read_history(survivor_id),
                    merged_id, await self.histories.read_history(merged_id))
                await self.histories.rewrite_history(survivor_id, combined)
                await self.histories.rewrite_history(merged_id, [])
            except BaseException:
                await self.db.run(lambda s: self._revert(s, entry_id, survivor_id, merged_id, moved))
                await self.index.drop_alias(merged_id)
                raise
            await refresh_index(self.db, self.index, survivor_id, merged_id)
        return MergeResult(entry_id, survivor_id, merged_id)

    @staticmethod
    def _merge_records(session: Session, survivor_id: str, merged_id: str, actor: str, reason: str):
        survivor, merged = session.get(Customer, survivor_id), session.get(Customer, merged_id)
        if survivor.merged_into or merged.merged_into:
            raise MergeRefused("a customer changed while waiting for the locks; retry")
        moved = move_rows(session, merged_id, survivor_id)
        entry = audit.record(session, "merge", actor, reason, survivor_id, merged_id, undo={"moved": moved})
        merged.merged_into = survivor_id
        session.add(CustomerAlias(alias_id=merged_id, customer_id=survivor_id, audit_id=entry.id, created_at=utcnow()))
        return entry.id, moved

    @staticmethod
    def _revert(session: Session, entry_id: int, survivor_id: str, merged_id: str, moved: dict) -> None:
        session.query(CustomerAlias).filter_by(alias_id=merged_id).delete()
        session.get(Customer, merged_id).merged_into = None
        move_back(session, moved, survivor_id, merged_id)
        session.delete(session.get(AuditEntry, entry_id))


class UnlinkCustomer:
    """Undo a merge: both customers back, each with their own identities, rows and events."""

    def __init__(self, db: Database, index: IdentityIndex, histories: HistoryStore, locks: ConversationLocks) -> None:
        self.db, self.index, self.histories, self.locks = db, index, histories, locks

    async def __call__(self, merge_audit_id: int, *, actor: str, reason: str) -> int:
        entry = await self.db.run(lambda s: audit.open_entry(s, merge_audit_id, ("merge",)))
        survivor_id, merged_id = entry.customer_id, entry.other_customer_id
        async with AsyncExitStack() as stack:
            await hold_locks(stack, self.locks, survivor_id, merged_id)
            unlink_id = await self.db.run(
                lambda s: self._split_records(s, merge_audit_id, survivor_id, merged_id, actor, reason))
            await self.index.drop_alias(merged_id)
            events = await self.histories.read_history(survivor_id)
            survivor_events, merged_events = history.split(events, survivor_id, merged_id)
            await self.histories.rewrite_history(merged_id, merged_events)
            await self.histories.rewrite_history(survivor_id, survivor_events)
            await refresh_index(self.db, self.index, survivor_id, merged_id)
        return unlink_id

    @staticmethod
    def _split_records(session: Session, merge_audit_id: int, survivor_id: str, merged_id: str,
                       actor: str, reason: str) -> int:
        entry = audit.open_entry(session, merge_audit_id, ("merge",))
        if session.get(Customer, survivor_id).merged_into is not None:
            raise MergeRefused(f"{survivor_id} was merged again later; unlink that merge first")
        move_back(session, audit.undo_data(entry)["moved"], survivor_id, merged_id)
        session.query(CustomerAlias).filter_by(alias_id=merged_id).delete()
        session.get(Customer, merged_id).merged_into = None
        unlink = audit.record(session, "unlink", actor, reason, survivor_id, merged_id,
                              undo={"merge_audit_id": merge_audit_id})
        entry.undone_by = unlink.id
        return unlink.id


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
