"""Messages the channels held back or could not deliver, as the console shows them.

The output channels write these to the Redis streams `tl:out:held` (closed 24-hour window,
opt-out) and `tl:out:failed` (permanent provider errors), see connectors/webhook/records.py.
Rasa sends an agent's reply before its HTTP API call returns, so entries newer than a mark
taken just before the call are that reply's problems.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from redis.asyncio import Redis

STREAMS = {"tl:out:held": "held", "tl:out:failed": "failed"}
RECENT = 500


@dataclass(frozen=True)
class DeliveryProblem:
    kind: str  # held | failed
    channel: str
    reason: str


def _problem(stream: str, fields: dict) -> DeliveryProblem:
    get = lambda name: (fields.get(name.encode()) or b"").decode()  # noqa: E731
    return DeliveryProblem(STREAMS[stream], get("channel"), get("reason") or get("code"))


class DeliveryProblems:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def mark(self) -> dict:
        """The newest entry id of each stream (where "after now" starts)."""
        mark = {}
        for stream in STREAMS:
            newest = await self.redis.xrevrange(stream, count=1)
            mark[stream] = newest[0][0] if newest else b"0-0"
        return mark

    async def since(self, mark: dict, customer_id: str) -> List[DeliveryProblem]:
        found = []
        for stream, after in mark.items():
            for _id, fields in await self.redis.xrange(stream, min=b"(" + after, count=RECENT):
                if fields.get(b"customer_id", b"").decode() == customer_id:
                    found.append(_problem(stream, fields))
        return found

    async def recent(self, customer_id: str, limit: int = 5) -> List[DeliveryProblem]:
        """The customer's latest problems, newest first (for the conversation page)."""
        found = []
        for stream in STREAMS:
            for _id, fields in await self.redis.xrevrange(stream, count=RECENT):
                if fields.get(b"customer_id", b"").decode() == customer_id:
                    found.append((_id, _problem(stream, fields)))
        return [problem for _id, problem in sorted(found, key=lambda pair: pair[0], reverse=True)[:limit]]
