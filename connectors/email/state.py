"""What the email channel remembers in Redis (namespace `tl:email:`).

- `thread:<message-id>` → customer id, for every mail we sent or received: a reply whose
  In-Reply-To/References name one of them belongs to that customer's conversation.
- `last:<customer id>` → the customer's latest mail (id, references, subject, address): what
  our next reply threads onto.
- `rate:<address>:<window>` → replies sent to an address in the current window.
- `imap:<account>/<mailbox>` → UIDVALIDITY and the last UID processed.
- `quarantine:count` (hash: source → count) and `quarantine:recent` (the latest
  `QUARANTINE_KEPT` as JSON: source, UID, size, reason, time; never a header or body) → mail
  refused unread (`bin/threadline info`). The mail itself stays where it was.
- `mailgun:token:<token>` → a signed Mailgun token already accepted (expires after the
  timestamp window).
- `csat-link:<question id>` → the CSAT question's rating link was used (connectors/email/csat_page.py).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

from redis.asyncio import Redis

PREFIX = "tl:email:"
THREAD_TTL_S = 180 * 24 * 3600
LAST_TTL_S = 90 * 24 * 3600
QUARANTINE_KEPT = 100


@dataclass
class ThreadParent:
    """The mail our reply answers."""
    message_id: str
    references: List[str] = field(default_factory=list)
    subject: str = ""
    address: str = ""
    name: str = ""  # the customer's display name, for the greeting


class EmailState:
    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    # --- threads ------------------------------------------------------------------------
    async def remember_thread(self, message_id: str, customer_id: str) -> None:
        await self.redis.set(f"{self.prefix}thread:{message_id}", customer_id, ex=THREAD_TTL_S)

    async def thread_customer(self, message_ids: List[str]) -> Optional[str]:
        """The customer whose conversation any of these ids belongs to (first match wins)."""
        if not message_ids:
            return None
        found = await self.redis.mget([f"{self.prefix}thread:{mid}" for mid in message_ids])
        return next((value.decode() for value in found if value), None)

    async def set_last_inbound(self, customer_id: str, parent: ThreadParent) -> None:
        await self.redis.set(f"{self.prefix}last:{customer_id}", json.dumps(asdict(parent)), ex=LAST_TTL_S)

    async def last_inbound(self, customer_id: str) -> Optional[ThreadParent]:
        raw = await self.redis.get(f"{self.prefix}last:{customer_id}")
        return ThreadParent(**json.loads(raw)) if raw else None

    # --- reply rate limit ---------------------------------------------------------------
    async def allow_reply(self, address: str, limit: int, window_s: int) -> bool:
        """Count one reply to `address`; False once `limit` were sent in this window."""
        window = int(time.time() // window_s)
        key = f"{self.prefix}rate:{address}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s * 2)
            count, _ = await pipe.execute()
        return count <= limit

    # --- IMAP position ------------------------------------------------------------------
    async def imap_cursor(self, mailbox_key: str) -> Optional[Tuple[int, int]]:
        raw = await self.redis.hgetall(f"{self.prefix}imap:{mailbox_key}")
        if not raw:
            return None
        return int(raw[b"uidvalidity"]), int(raw[b"last_uid"])

    async def set_imap_cursor(self, mailbox_key: str, uidvalidity: int, last_uid: int) -> None:
        await self.redis.hset(f"{self.prefix}imap:{mailbox_key}",
                              mapping={"uidvalidity": uidvalidity, "last_uid": last_uid})

    async def start_imap_cursor(self, mailbox_key: str, uidvalidity: int, backlog_end: int) -> None:
        """A cursor at the start of the folder; UIDs up to `backlog_end` were there before the
        reader's first start (see connectors/email/imap.py)."""
        await self.redis.hset(f"{self.prefix}imap:{mailbox_key}", mapping={
            "uidvalidity": uidvalidity, "last_uid": 0, "backlog_end": backlog_end})

    async def imap_backlog_end(self, mailbox_key: str) -> int:
        raw = await self.redis.hget(f"{self.prefix}imap:{mailbox_key}", "backlog_end")
        return int(raw or 0)

    # --- quarantine ---------------------------------------------------------------------
    async def quarantine(self, source: str, uid: Optional[int], size: int, reason: str) -> None:
        """Count a mail refused unread; `source` is the mailbox key, or "mailgun"."""
        entry = json.dumps({"source": source, "uid": uid, "size": size, "reason": reason,
                            "at": round(time.time(), 3)})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(f"{self.prefix}quarantine:count", source, 1)
            pipe.lpush(f"{self.prefix}quarantine:recent", entry)
            pipe.ltrim(f"{self.prefix}quarantine:recent", 0, QUARANTINE_KEPT - 1)
            await pipe.execute()

    async def quarantined(self) -> Dict[str, object]:
        """{"total", "by_source": {source: count}, "recent": [newest first]}."""
        counts = await self.redis.hgetall(f"{self.prefix}quarantine:count")
        recent = await self.redis.lrange(f"{self.prefix}quarantine:recent", 0, QUARANTINE_KEPT - 1)
        by_source = {key.decode(): int(value) for key, value in counts.items()}
        return {"total": sum(by_source.values()), "by_source": by_source,
                "recent": [json.loads(entry) for entry in recent]}

    # --- Mailgun replay -----------------------------------------------------------------
    async def first_use_of_mailgun_token(self, token: str, ttl_s: int) -> bool:
        """True the first time a (signed) token is seen within `ttl_s`: SET NX EX."""
        return bool(await self.redis.set(f"{self.prefix}mailgun:token:{token}", 1, nx=True, ex=ttl_s))

    # --- CSAT rating links ---------------------------------------------------------------
    async def first_use_of_csat_link(self, question_id: int, ttl_s: int) -> bool:
        """True for the first rating through the question's link: SET NX EX."""
        return bool(await self.redis.set(f"{self.prefix}csat-link:{question_id}", 1, nx=True, ex=ttl_s))

    async def csat_link_used(self, question_id: int) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}csat-link:{question_id}"))

    async def forget_csat_link_use(self, question_id: int) -> None:
        """The rating was not queued: the link may be used again."""
        await self.redis.delete(f"{self.prefix}csat-link:{question_id}")
