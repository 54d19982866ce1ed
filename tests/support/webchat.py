"""Web chat test helpers: the channel's settings on a known sandbox secret (so a test can mint
site tokens like a site's backend), the minting, and a widget speaking the socket protocol."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Dict, List, Optional

import aiohttp
import jwt

from tests.support.redis_server import free_port
from tests.support.waiting import wait_for

SECRET = "sandbox-webchat-test-secret-0123456789"


def webchat_env(env: Dict[str, str]) -> Dict[str, str]:
    """`env` (a scripted stack's) with the web chat allowing only the server's own origin."""
    return {**env, "WEBCHAT_JWT_SECRET": SECRET, "WEBCHAT_ALLOWED_ORIGINS": f"http://127.0.0.1:{env['BOT_PORT']}",
            "WEBCHAT_MAX_MESSAGES_PER_MINUTE": "15"}


def with_proxy(env: Dict[str, str]) -> Dict[str, str]:
    """`env` with a port for the cuttable proxy (the `proxy` fixture) whose origin is allowed."""
    port = str(free_port())
    return {**env, "PROXY_PORT": port,
            "WEBCHAT_ALLOWED_ORIGINS": env["WEBCHAT_ALLOWED_ORIGINS"] + f",http://127.0.0.1:{port}"}


def site_token(sub: str, secret: str = SECRET, lifetime_s: int = 600, **claims: Any) -> str:
    """What a site's backend mints (docs/webchat.md)."""
    body = {"sub": sub, "exp": int(time.time()) + lifetime_s, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


class Widget:
    """A widget's side of the socket, as the browser script speaks it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.ws, self.session = ws, session
        self.frames: List[Dict[str, Any]] = []
        self.closed: Optional[int] = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))
        self.closed = self.ws.close_code

    async def send(self, frame: Any) -> None:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def say(self, text: str, client_id: Optional[str] = None) -> str:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "id": client_id, "text": text})
        return client_id

    def entries(self) -> List[Dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "entry"]

    def texts(self) -> List[str]:
        return [e.get("text") for e in self.entries()]

    async def welcome(self) -> Dict[str, Any]:
        return await wait_for(lambda: next((f for f in self.frames if f["type"] == "welcome"), None))

    async def closed_with(self) -> int:
        await wait_for(lambda: self.closed is not None)
        return self.closed

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.session.close()


async def open_widget(bot, origin: Optional[str] = "default", send_hello: bool = True, **hello: Any) -> Widget:
    """A socket to `bot`'s web chat from `origin` (default: the server's own, the allowed
    one); sends the hello frame (`hello`'s fields) unless `send_hello` is False."""
    session = aiohttp.ClientSession()
    headers = {"Origin": bot.base.rsplit("/webhooks", 1)[0] if origin == "default" else origin} if origin else {}
    ws = await session.ws_connect(f"{bot.base.replace('http', 'ws', 1)}/webchat/socket", headers=headers)
    widget = Widget(ws, session)
    if send_hello:
        await widget.send({"type": "hello", "after": 0, **hello})
    return widget
