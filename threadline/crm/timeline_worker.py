"""The CRM timeline consumer: copies conversation messages from the tracker store into the CRM.

Runs beside Rasa (`make run` starts it as the "crm timeline" service), never inside a turn:
the tracker store's append script adds one entry naming the customer to the `tl:trk:changes`
stream, and this worker, in consumer group `crm-timeline`, reads the customer's log from its
cursor (`tl:crm:cursor`, a Redis hash: customer → [position, channel, id of the event before
position]) and writes the new messages to the CRM.

- CRM down: the entry stays pending (not acknowledged) and is retried with back-off; replies
  never wait for it. Nothing is lost: the events stay in the tracker store.
- Duplicates: each interaction's idempotency key is its event's stable id
  (threadline.conversation.event_ids), so a replay after a crash between the CRM write and the
  cursor update writes nothing twice, and neither does reading a log a merge or an unlink
  rewrote: the cursor remembers the id of the last event it read, and when that event is no
  longer where the cursor points (the log was rewritten) the worker reads the customer's whole
  log again, which adds only the events the CRM does not have.
- Missed notifications (a sync that failed and was dead-lettered, a consumer group reset, the
  capped stream trimmed before the group read it): reconciliation, by one leader however many
  workers run. The worker holding the lease `tl:crm:timeline:leader` (30 s, renewed every
  10 s; a killed leader's lapses and another worker takes over) syncs, every
  CRM_TIMELINE_RECONCILE_S (300 s), the customers changed since its cursor on the changes
  stream (`tl:crm:reconcile:cursor`), RECONCILE_BATCH notifications at a time. Only when
  notifications after the cursor may be gone (first run, stream trimmed past it) does it go
  through every customer, in batches, and then start from where the stream was when it began.
- One bad event never stops it: an event that cannot become an interaction (not JSON, a
  missing or mistyped field) or that the CRM refuses to store goes to the dead letter
  (`tl:crm:timeline:dead`, a capped stream: customer, position, reason, time; never the
  message), is logged in one line, and the worker goes on with the next event and customer.
  Only CRM/Redis unavailability (a lost connection, a busy or unreachable database) is retried
  (it is not the event's fault); an error the data causes (a constraint, a value a column
  refuses) is the event's, and a duplicate key is "already written" (the SQL backend's
  transaction runs again and finds the row).

`python -m threadline.crm.timeline_worker` (health: GET /health on CRM_TIMELINE_PORT).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError, ResponseError

from threadline.conversation.event_ids import event_id
from threadline.conversation.event_log import CustomerEventLog, Layout
from threadline.conversation.lease import RedisLease
from threadline.conversation.redis_connection import connect
from threadline.crm.interface import Crm, CrmUnavailable, InteractionRecord
from threadline.crm.timeline import MalformedEvent, interaction_of
from threadline.quiet import quiet_library_warnings

log = logging.getLogger("threadline.crm.timeline")

GROUP = "crm-timeline"
CURSOR_KEY = "tl:crm:cursor"
BATCH_EVENTS = 500
RECONCILE_S = 300.0
RECONCILE_BATCH = 500
LEADER_KEY = "tl:crm:timeline:leader"
LEADER_LEASE_MS = 30_000
RECONCILE_CURSOR_KEY = "tl:crm:reconcile:cursor"
MAX_BACKOFF_S = 30.0
DEAD_LETTER_KEY = "tl:crm:timeline:dead"
DEAD_LETTER_MAXLEN = 10_000
# Retried with back-off, never dead-lettered: the store is away, the event is fine.
TRANSIENT = (CrmUnavailable, RedisError, OSError)

Positioned = List[Tuple[int, InteractionRecord]]


def unreadable_reason(error: Exception) -> str:
    """Why a stored event could not become an interaction, without quoting the event."""
    if isinstance(error, MalformedEvent):
        return error.reason
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON ({error.msg} at char {error.pos})"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, RecursionError):
        return "JSON nested too deeply"
    return f"unreadable ({type(error).__name__})"


def stored_event_mark(customer_id: str, stored: bytes) -> str:
    """What identifies a stored event for the cursor: its stable id, or a digest of what is
    stored when it is not an event at all (it was dead-lettered)."""
    try:
        event = json.loads(stored)
    except (ValueError, RecursionError):
        event = None
    if isinstance(event, dict):
        return event_id(customer_id, event)
    return "raw:" + hashlib.sha256(stored).hexdigest()[:40]


async def dead_letter_count(client: aioredis.Redis) -> int:
    return int(await client.xlen(DEAD_LETTER_KEY))


@dataclass
class WorkerStatus:
    synced_customers: int = 0
    written: int = 0
    dead_letters: int = 0
    crm_available: bool = True
    last_error: Optional[str] = None
    last_success_at: Optional[float] = None
    leader: bool = False
    reconciled_customers: int = 0  # by this worker's reconciliations (0 unless it led)
    full_reconciliations: int = 0

    def as_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)


@dataclass
class TimelineWorker:
    client: aioredis.Redis
    crm: Crm
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    block_ms: int = 1000
    reconcile_s: float = RECONCILE_S
    leader_lease_ms: int = LEADER_LEASE_MS
    status: WorkerStatus = field(default_factory=WorkerStatus)

    def __post_init__(self) -> None:
        self.log = CustomerEventLog(self.client)
        self.stream = self.log.changes_key
        self.leadership = RedisLease(self.client, LEADER_KEY, self.leader_lease_ms)
        self._stop = asyncio.Event()

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: entries written before the worker's first run count.
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _cursor(self, customer_id: str) -> Tuple[int, Optional[str], Optional[str]]:
        """(position, channel, id of the event just before position or None)."""
        raw = await self.client.hget(CURSOR_KEY, customer_id)
        if not raw:
            return 0, None, None
        position, channel, *before = json.loads(raw)
        return int(position), channel, before[0] if before else None

    async def _still_in_place(self, customer_id: str, layout: Layout, position: int,
                              before: Optional[str]) -> bool:
        """Whether the event the cursor last read is still just before `position`: false once a
        merge or an unlink rewrote the log."""
        if position > layout.end or position < layout.base:
            return False
        if before is None or position == layout.base:
            return True
        raw = await self.log.read_range(customer_id, position - 1, position, layout.base)
        return bool(raw) and stored_event_mark(customer_id, raw[0]) == before

    async def sync_customer(self, customer_id: str) -> int:
        """Copy the customer's new messages to the CRM; returns how many were new."""
        written = 0
        while True:
            layout = await self.log.layout(customer_id)
            position, channel, before = await self._cursor(customer_id)
            if not await self._still_in_place(customer_id, layout, position, before):
                # Rewritten (merge, unlink) or archived: read what is kept from the start; the
                # stable event ids skip what the CRM already has.
                position, channel = layout.base, None
            if position >= layout.end:
                return written
            end = min(layout.end, position + BATCH_EVENTS)
            raw = await self.log.read_range(customer_id, position, end, layout.base)
            if not raw:  # rewritten between the layout and the read: look again
                await self.client.hdel(CURSOR_KEY, customer_id)
                continue
            end = position + len(raw)
            records, channel = await self._interactions(customer_id, position, raw, channel)
            if records:
                written += await self._record(customer_id, records)
            await self.client.hset(CURSOR_KEY, customer_id, json.dumps(
                [end, channel, stored_event_mark(customer_id, raw[-1])]))

    async def _interactions(self, customer_id: str, first: int, raw: Sequence[bytes],
                            channel: Optional[str]) -> Tuple[Positioned, Optional[str]]:
        """The interactions of the events stored from position `first`; unreadable ones are
        dead-lettered."""
        records: Positioned = []
        for position, stored in enumerate(raw, first):
            try:
                record, channel = interaction_of(customer_id, json.loads(stored), channel)
            except Exception as error:  # pure code on one stored event: nothing here is transient
                await self.dead_letter(customer_id, position, unreadable_reason(error))
                continue
            if record is not None:
                records.append((position, record))
        return records, channel

    async def _record(self, customer_id: str, records: Positioned) -> int:
        """Write the batch; when the CRM refuses it, write one by one so that only the refused
        records are dead-lettered."""
        try:
            return await self.crm.record_interactions([record for _, record in records])
        except TRANSIENT:
            raise
        except Exception:
            pass
        written = 0
        for position, record in records:
            try:
                written += await self.crm.record_interactions([record])
            except TRANSIENT:
                raise
            except Exception as error:
                await self.dead_letter(customer_id, position, f"CRM refused the write ({type(error).__name__})")
        return written

    async def dead_letter(self, customer_id: str, position: Optional[int], reason: str) -> None:
        await self.client.xadd(DEAD_LETTER_KEY, {
            "customer": customer_id, "position": "" if position is None else str(position),
            "reason": reason, "at": f"{time.time():.3f}",
        }, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        self.status.dead_letters += 1
        where = "a sync" if position is None else f"event {position}"
        log.warning("crm timeline: %s of customer %s dead-lettered (%s); going on with the others",
                    where, customer_id, reason)

    async def lead(self) -> bool:
        """Take or renew the reconciliation lease; whether this worker leads now."""
        was = self.status.leader
        self.status.leader = await self.leadership.hold()
        if self.status.leader != was:
            log.info("crm timeline: %s the reconciliation leader", "now" if self.status.leader else "no longer")
        return self.status.leader

    async def reconcile(self) -> None:
        """Sync the customers changed since the cursor (every customer when changes may be
        missing); the lease is renewed between batches and the pass stops if it is lost."""
        raw = await self.client.get(RECONCILE_CURSOR_KEY)
        cursor = raw.decode() if isinstance(raw, bytes) else raw
        page = await self.log.changes_after(cursor, RECONCILE_BATCH)
        if not page.complete:
            await self._reconcile_everyone()
            return
        while page.customers and not self._stop.is_set():
            for customer_id in page.customers:
                await self._sync_and_count(customer_id)
            self.status.reconciled_customers += len(page.customers)
            await self.client.set(RECONCILE_CURSOR_KEY, page.last_id)
            if not await self.lead():
                return
            page = await self.log.changes_after(page.last_id, RECONCILE_BATCH)

    async def _reconcile_everyone(self) -> None:
        # Changes written during the pass are after `start`: the next pass reads them.
        start = await self.log.last_change() or "0-0"
        log.info("crm timeline: reconciling every customer (notifications may be missing)")
        async for customers in self.log.customer_batches(RECONCILE_BATCH):
            for customer_id in customers:
                await self._sync_and_count(customer_id)
            self.status.reconciled_customers += len(customers)
            if self._stop.is_set() or not await self.lead():
                return  # the next leader starts the pass again
        await self.client.set(RECONCILE_CURSOR_KEY, start)
        self.status.full_reconciliations += 1

    async def _sync_and_count(self, customer_id: str) -> None:
        try:
            written = await self.sync_customer(customer_id)
        except TRANSIENT:
            raise
        except Exception as error:  # a fault outside any one event: this customer waits, the others go on
            await self.dead_letter(customer_id, None, f"sync failed ({type(error).__name__})")
            return
        self.status.written += written
        self.status.synced_customers += 1

    async def process_once(self, pending: bool) -> int:
        """Handle one batch of notifications (own pending ones first); returns how many."""
        reply = await self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: "0" if pending else ">"}, count=100,
            block=None if pending else self.block_ms)
        entries = reply[0][1] if reply else []
        customers = {}
        for entry_id, fields in entries:
            customer = fields.get(b"customer") or fields.get("customer")
            if customer is not None:
                customers.setdefault(customer.decode() if isinstance(customer, bytes) else customer, []).append(entry_id)
        for customer_id, ids in customers.items():
            await self._sync_and_count(customer_id)
            await self.client.xack(self.stream, GROUP, *ids)
        stray = [entry_id for entry_id, fields in entries if not fields]
        if stray:  # deleted entries still listed as pending
            await self.client.xack(self.stream, GROUP, *stray)
        return len(entries)

    async def run(self) -> None:
        await self.ensure_group()
        backoff = 0.5
        next_lease_check = next_reconcile = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_lease_check:
                    led = self.status.leader
                    if await self.lead() and not led:
                        next_reconcile = 0.0  # a new leader reconciles at once
                    next_lease_check = time.monotonic() + self.leadership.renew_every_s
                if self.status.leader and time.monotonic() >= next_reconcile:
                    await self.reconcile()
                    next_reconcile = time.monotonic() + self.reconcile_s
                if not await self.process_once(pending=True):
                    await self.process_once(pending=False)
                self.status.crm_available, self.status.last_error = True, None
                self.status.last_success_at = time.time()
                backoff = 0.5
            except (CrmUnavailable, RedisError, OSError) as error:
                self.status.crm_available = not isinstance(error, CrmUnavailable)
                self.status.last_error = f"{error.__class__.__name__}: {error}"
                log.warning("crm timeline: %s; retrying in %.1fs (the conversation is not affected)",
                            self.status.last_error, backoff)
                try:
                    await asyncio.wait_for(self._stop.wait(), backoff)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def stop(self) -> None:
        self._stop.set()

    async def resign(self) -> None:
        """Give the reconciliation lease back (a clean stop): another worker leads within a renewal."""
        await self.leadership.release()
        self.status.leader = False


def health_app(worker: TimelineWorker) -> web.Application:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **worker.status.as_dict()})

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def serve(redis_url: str, port: int) -> None:
    from threadline.crm.backends import crm_services

    services = await asyncio.to_thread(crm_services, seed_demo=False)
    client = connect(redis_url)
    worker = TimelineWorker(client, services.crm,
                            reconcile_s=float(os.environ.get("CRM_TIMELINE_RECONCILE_S") or RECONCILE_S),
                            leader_lease_ms=int(os.environ.get("CRM_TIMELINE_LEADER_LEASE_MS") or LEADER_LEASE_MS))
    runner = web.AppRunner(health_app(worker))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, worker.stop)
    log.info("crm timeline: consuming %s, health on http://127.0.0.1:%d/health", worker.stream, port)
    try:
        await worker.run()
    finally:
        await worker.resign()
        await runner.cleanup()
        await client.close(close_connection_pool=True)
        await services.close()


def main() -> None:
    quiet_library_warnings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        raise SystemExit("crm timeline: REDIS_URL is not set (make run sets it)")
    asyncio.run(serve(redis_url, int(os.environ.get("CRM_TIMELINE_PORT", "5056"))))


if __name__ == "__main__":
    main()
