"""Console login sessions in Redis: a random id in an HttpOnly cookie, state on the server.

`tl:console:session:<id>` holds the agent id and the session's CSRF token; it expires after
SESSION_TTL_S without use (each request slides it). Logging out deletes it, so a copied
cookie stops working at once.
"""
from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Optional

from redis.asyncio import Redis

SESSION_TTL_S = 8 * 3600
KEY = "tl:console:session:"


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    agent_id: str
    csrf_token: str

    def csrf_matches(self, token: Optional[str]) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token.encode())


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, agent_id: str) -> ConsoleSession:
        session = ConsoleSession(secrets.token_urlsafe(32), agent_id, secrets.token_urlsafe(32))
        state = json.dumps({"agent_id": agent_id, "csrf": session.csrf_token})
        await self.redis.set(KEY + session.id, state, ex=SESSION_TTL_S)
        return session

    async def get(self, session_id: Optional[str]) -> Optional[ConsoleSession]:
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.redis.get(KEY + session_id)
        if raw is None:
            return None
        await self.redis.expire(KEY + session_id, SESSION_TTL_S)
        state = json.loads(raw)
        return ConsoleSession(session_id, state["agent_id"], state["csrf"])

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(KEY + session_id)
