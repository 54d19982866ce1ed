"""Console login sessions in Redis: a random id in an HttpOnly cookie, state on the server.

`tl:console:session:<id>` holds the agent id, the session's CSRF token and when it was
created. It ends after SESSION_TTL_S without use (each request slides it) and, however busy,
`max_age_s` after the login (CONSOLE_SESSION_MAX_AGE, default 7 days): a stolen cookie does
not live for ever in a tab that is never closed. Logging out deletes it, so a copied cookie
stops working at once.
"""
from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Optional

from redis.asyncio import Redis

SESSION_TTL_S = 8 * 3600
MAX_AGE_S = 7 * 24 * 3600
KEY = "tl:console:session:"


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    agent_id: str
    csrf_token: str
    created_at: float

    def csrf_matches(self, token: Optional[str]) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token.encode())


class SessionStore:
    def __init__(self, redis: Redis, *, max_age_s: int = MAX_AGE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.max_age_s = max_age_s
        self.clock = clock

    def _ttl(self, created_at: float) -> int:
        """Idle lifetime, but never past the absolute one."""
        return max(1, min(SESSION_TTL_S, int(created_at + self.max_age_s - self.clock()) + 1))

    async def create(self, agent_id: str) -> ConsoleSession:
        session = ConsoleSession(secrets.token_urlsafe(32), agent_id, secrets.token_urlsafe(32), self.clock())
        state = json.dumps({"agent_id": agent_id, "csrf": session.csrf_token, "created_at": session.created_at})
        await self.redis.set(KEY + session.id, state, ex=self._ttl(session.created_at))
        return session

    async def get(self, session_id: Optional[str], *, touch: bool = True) -> Optional[ConsoleSession]:
        """The live session with that id, or None. `touch` counts this as use (slides the
        idle lifetime); a live stream's re-check does not."""
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.redis.get(KEY + session_id)
        if raw is None:
            return None
        state = json.loads(raw)
        # A session from before the absolute lifetime existed has no age: it ends (one new login).
        created_at = float(state.get("created_at", 0))
        if self.clock() >= created_at + self.max_age_s:
            await self.delete(session_id)
            return None
        if touch:
            await self.redis.expire(KEY + session_id, self._ttl(created_at))
        return ConsoleSession(session_id, state["agent_id"], state["csrf"], created_at)

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(KEY + session_id)
