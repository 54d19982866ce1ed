"""What the channels remember in Redis besides the inbox.

- `tl:out:msg:<channel>:<provider id>`: every message we sent, with its delivery status
  (sent < delivered < read; failed wins), kept 30 days.
- `tl:out:failed`, `tl:out:held`: permanent send errors and messages held back (closed
  24-hour window, opt-out); the agent console reads these streams.
- `tl:out:held:<channel>:<address>`: the held messages that may go out by themselves when the
  customer writes again (closed window), oldest first; `tl:out:held:sent` maps the
  `tl:out:held` entry id of each one sent later to when and as which provider messages
  (the whole map expires HELD_TTL_S after its last write, as the held messages themselves do).
- `tl:out:held:invited:<channel>:<address>`: set by the first message held in a batch (until the
  customer writes again), so that only it sends the invitation template.
- `tl:out:sends:<customer id>:<source>`: send records (hash: position -> provider message id,
  or `held` when the message was held instead; field `staged`: an email turn's parts until
  its mail goes out). `source` is `turn:<channel>:<event id>` for the output of the bot turn
  of one inbound event, `held:<entry id>` for a held message sent later; kept
  SEND_RECORD_TTL_S (8 days: longer than any replay of an inbound event).
- `tl:out:refused:<ref>`: why a message sent with the `delivery_ref` metadata `ref` did not
  reach the customer (held, refused by the provider, or a failed receipt later): a short code,
  never its text; read by whoever sent it (the follow-up worker) through `refusal`; kept
  SEND_RECORD_TTL_S.
- `tl:out:window:<channel>:<address>`: time of the customer's last inbound message.
- `tl:out:optout:<channel>`: addresses that sent STOP.
- `tl:out:offer:<customer id>`: the options the bot last offered the customer, on any
  channel (connectors/webhook/offers.py): which payloads are current, what "2" means.
- `tl:inbox:activity:<customer id>`: reactions, reads, edits, deletes and echoes, recorded
  but never shown to the bot.

With `replicas` (THREADLINE_ACK_REPLICAS), a turn's send record is on that many replicas before
the turn sends its next message: a failover to a replica then cannot forget that a message went
out, so the turn replayed on the new primary does not send it again (`make bench-scale`: 16, then
3 answers sent twice after a SIGKILL of the primary, from records written but not yet replicated).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.offers import Offer

log = logging.getLogger(__name__)

MESSAGE_TTL_S = 30 * 24 * 3600
WINDOW_KEY_TTL_S = 8 * 24 * 3600
OFFER_TTL_S = 24 * 3600  # a day-old button is no longer an answer (email passes its own)
ACTIVITY_MAXLEN = 1000
HELD_TTL_S = 30 * 24 * 3600  # a held answer older than a month is no answer any more
# Longer than the inbox's 7-day dedupe window (the longest a provider replays an event) and
# than any pending entry waits for its replay.
SEND_RECORD_TTL_S = 8 * 24 * 3600
REF_FIELD = "delivery_ref"  # a sent message's field: its sender's reference (see `refused`)
REASON_MAX = 60  # a refusal's reason fits the CRM's follow-up reason column
STAGED_FIELD = "staged"  # a send record's field holding what a turn will send when it ends (email)
HELD_MARK = "held"  # a send record's value when the message in that position was held instead
STATUS_RANK = {"accepted": 0, "queued": 0, "sending": 0, "sent": 1, "delivered": 2,
               "read": 3, "played": 3, "undelivered": 4, "failed": 4,
               # RCS: expired undelivered and revoked (sent again by SMS), or expired unrevoked
               "ttl_expiration_revoked": 4, "ttl_expiration_revoke_failed": 1}
FAILED_RANK = 4

# Keep the highest status reached: provider receipts may arrive out of order.
_STATUS = """
local rank = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'status_rank') or '-1')
if rank >= current then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_rank', rank)
end
redis.call('HSET', KEYS[1], 'at_' .. ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'errors', ARGV[4]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return current
"""


def _held_key(channel: str, address: str) -> str:
    return f"tl:out:held:{channel}:{address}"


@dataclass(frozen=True)
class SendSlot:
    """One outbound payload's place: its source (a turn, a held entry) and its ordinal there."""

    source: str
    position: int


def turn_source(inbound_key: str) -> str:
    """The send records' source for the bot turn answering inbound event `inbound_key`."""
    return f"turn:{inbound_key}"


def held_source(entry_id: str) -> str:
    return f"held:{entry_id}"


def _sends_key(customer_id: str, source: str) -> str:
    return f"tl:out:sends:{customer_id}:{source}"


class ChannelRecords:
    def __init__(self, redis: Redis, replicas: int = 0, replica_timeout_ms: int = 1_000) -> None:
        self.redis = redis
        self.replicas = replicas
        self.replica_timeout_ms = replica_timeout_ms
        self._status = redis.register_script(_STATUS)

    # --- outbound messages -------------------------------------------------------------
    async def sent(self, channel: str, provider_id: str, customer_id: str, address: str,
                   *, slot: Optional[SendSlot] = None, **details: Any) -> None:
        """The provider accepted message `provider_id`; with `slot`, its send record too (atomically)."""
        key = f"tl:out:msg:{channel}:{provider_id}"
        fields = {"channel": channel, "customer_id": customer_id, "address": address,
                  "sent_at": time.time(), **{k: str(v) for k, v in details.items()}}
        async with self.redis.pipeline(transaction=True) as pipe:
            if slot is not None:
                self._record_slot(pipe, customer_id, slot, provider_id)
            pipe.hset(key, mapping=fields)
            pipe.hsetnx(key, "status", "accepted")
            pipe.expire(key, MESSAGE_TTL_S)
            await pipe.execute()
        if slot is not None and self.replicas:
            await self._replicated(key, customer_id)

    async def _replicated(self, key: str, customer_id: str) -> None:
        """Wait until `replicas` replicas hold the send record just written (at most the timeout).

        WAIT counts the replicas holding the waiting connection's own last write, and the
        replication stream is in order: the expiry written again (unchanged) on the connection
        that waits brings everything written before it, the send record included."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.expire(key, MESSAGE_TTL_S)
            pipe.wait(self.replicas, self.replica_timeout_ms)
            _, held = await pipe.execute()
        if int(held) < self.replicas:
            log.warning("send record of a message to customer %s: %d of %d replicas hold it after %d ms; "
                        "a failover now could send it again", customer_id, int(held), self.replicas,
                        self.replica_timeout_ms)

    async def slot_outcome(self, customer_id: str, slot: SendSlot) -> Optional[str]:
        """The provider id sent in `slot`, HELD_MARK if it was held, None if nothing went out."""
        raw = await self.redis.hget(_sends_key(customer_id, slot.source), str(slot.position))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def slot_held(self, customer_id: str, slot: SendSlot) -> None:
        """The message in `slot` was held instead of sent (the held record keeps it)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            self._record_slot(pipe, customer_id, slot, HELD_MARK)
            await pipe.execute()

    async def stage_parts(self, customer_id: str, source: str, parts: List[Dict[str, Any]]) -> None:
        """What a turn will send once it ends (email: one mail per turn), kept for its replay."""
        key = _sends_key(customer_id, source)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, STAGED_FIELD, json.dumps(parts, ensure_ascii=False))
            pipe.expire(key, SEND_RECORD_TTL_S)
            await pipe.execute()

    async def staged_parts(self, customer_id: str, source: str) -> List[Dict[str, Any]]:
        raw = await self.redis.hget(_sends_key(customer_id, source), STAGED_FIELD)
        return json.loads(raw) if raw else []

    @staticmethod
    def _record_slot(pipe: Any, customer_id: str, slot: SendSlot, outcome: str) -> None:
        key = _sends_key(customer_id, slot.source)
        pipe.hset(key, str(slot.position), outcome)
        pipe.expire(key, SEND_RECORD_TTL_S)

    async def delivery_status(self, event: InboundEvent) -> None:
        key = f"tl:out:msg:{event.channel}:{event.target_message_id}"
        status = (event.status or "unknown").lower()
        errors = json.dumps(event.errors) if event.errors else ""
        rank = STATUS_RANK.get(status, 0)
        await self._status(keys=[key], args=[status, rank, event.timestamp or time.time(), errors, MESSAGE_TTL_S])
        if rank >= FAILED_RANK:  # a message its sender tracks failed after the provider accepted it
            ref = await self.redis.hget(key, REF_FIELD)
            if ref:
                code = next((e.get("code") for e in event.errors or () if isinstance(e, dict) and e.get("code")), None)
                await self.refused(ref.decode() if isinstance(ref, bytes) else ref,
                                   f"provider_failed:{code if code is not None else status}")

    # --- what became of a message its sender tracks (`delivery_ref`) ----------------------
    async def refused(self, ref: str, reason: str) -> None:
        """The message sent with `delivery_ref` = `ref` did not reach the customer, for `reason`
        (a short code: `held: <why>`, `provider_refused:<code>`, `provider_failed:<code>`)."""
        await self.redis.set(f"tl:out:refused:{ref}", reason[:REASON_MAX], ex=SEND_RECORD_TTL_S)

    async def refusal(self, ref: str) -> Optional[str]:
        """Why the message sent with `delivery_ref` = `ref` did not reach the customer, or None."""
        raw = await self.redis.get(f"tl:out:refused:{ref}")
        return raw.decode() if isinstance(raw, bytes) else raw

    async def message(self, channel: str, provider_id: str) -> Dict[str, str]:
        raw = await self.redis.hgetall(f"tl:out:msg:{channel}:{provider_id}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def failed(self, channel: str, customer_id: str, address: str, code: Any, reason: str) -> None:
        await self.redis.xadd("tl:out:failed", {"channel": channel, "customer_id": customer_id,
                                                "address": address, "code": str(code), "reason": reason},
                              maxlen=10_000, approximate=True)

    async def held(self, channel: str, customer_id: str, address: str, reason: str,
                   message: Dict[str, Any], *, send_later: bool = False) -> str:
        """A message we may not send now; the agent console shows it to a person. With
        `send_later`, it is also queued for the customer's next message (`held_messages`)."""
        entry_id = await self.redis.xadd(
            "tl:out:held", {"channel": channel, "customer_id": customer_id, "address": address,
                            "reason": reason, "message": json.dumps(message, ensure_ascii=False)},
            maxlen=10_000, approximate=True)
        entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        if send_later:
            queued = json.dumps({"entry_id": entry_id, "customer_id": customer_id, "message": message},
                                ensure_ascii=False)
            key = _held_key(channel, address)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, queued)
                pipe.expire(key, HELD_TTL_S)
                await pipe.execute()
        return entry_id

    async def first_hold_of_batch(self, channel: str, address: str) -> bool:
        """True once per batch of held messages (until the customer writes again): the hold
        that invites the customer back (one template per batch, not per message)."""
        return bool(await self.redis.set(f"tl:out:held:invited:{channel}:{address}", time.time(),
                                         nx=True, ex=HELD_TTL_S))

    async def held_messages(self, channel: str, address: str) -> List[Dict[str, Any]]:
        """Messages queued by `held(..., send_later=True)` for this address, oldest first."""
        return [json.loads(raw) for raw in await self.redis.lrange(_held_key(channel, address), 0, -1)]

    async def held_sent(self, channel: str, address: str, held: Dict[str, Any], provider_ids: List[str]) -> None:
        """`held` (an item of `held_messages`) went out: off the queue, marked sent for agents."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrem(_held_key(channel, address), 1, json.dumps(held, ensure_ascii=False))
            pipe.hset("tl:out:held:sent", held["entry_id"],
                      json.dumps({"sent_at": time.time(), "provider_ids": provider_ids}))
            pipe.expire("tl:out:held:sent", HELD_TTL_S)
            await pipe.execute()

    # --- conversation windows and consent -----------------------------------------------
    async def inbound_seen(self, channel: str, address: str, at: Optional[float]) -> None:
        """The customer wrote: the window is open again and the next hold starts a new batch."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"tl:out:window:{channel}:{address}", at or time.time(), ex=WINDOW_KEY_TTL_S)
            pipe.delete(f"tl:out:held:invited:{channel}:{address}")
            await pipe.execute()

    async def last_inbound(self, channel: str, address: str) -> Optional[float]:
        raw = await self.redis.get(f"tl:out:window:{channel}:{address}")
        return float(raw) if raw else None

    async def set_opt_out(self, channel: str, address: str, opted_out: bool) -> None:
        key = f"tl:out:optout:{channel}"
        if opted_out:
            await self.redis.sadd(key, address)
        else:
            await self.redis.srem(key, address)

    async def opted_out(self, channel: str, address: str) -> bool:
        return bool(await self.redis.sismember(f"tl:out:optout:{channel}", address))

    # --- offers: the options the bot last showed a customer -----------------------------
    async def offer(self, customer_id: str, offer: Offer, ttl_s: int = OFFER_TTL_S) -> None:
        """`offer` replaces the customer's current one: older buttons stop being answers."""
        await self.redis.set(f"tl:out:offer:{customer_id}", offer.to_json(), ex=ttl_s)

    async def current_offer(self, customer_id: str) -> Optional[Offer]:
        raw = await self.redis.get(f"tl:out:offer:{customer_id}")
        return Offer.from_json(raw) if raw else None

    # --- recorded-only events -----------------------------------------------------------
    async def activity(self, customer_id: str, event: InboundEvent) -> None:
        await self.redis.xadd(f"tl:inbox:activity:{customer_id}", {"event": event.to_json()},
                              maxlen=ACTIVITY_MAXLEN, approximate=True)

    async def recent_activity(self, customer_id: str, count: int = 50) -> List[InboundEvent]:
        entries = await self.redis.xrevrange(f"tl:inbox:activity:{customer_id}", count=count)
        return [InboundEvent.from_json(fields[b"event"]) for _, fields in entries]
