"""A local OpenAI-compatible chat-completions server for the summary's LLM path.

It records every request (path, headers, JSON body) and answers what the test sets: the
assistant's message content, an HTTP status, a raw body, or a delay longer than the client's
timeout. The wire format is OpenAI's `POST /v1/chat/completions`.
"""
from __future__ import annotations

import asyncio
import time
from typing import List, Optional

from aiohttp import web

from tests.support.redis_server import free_port


class FakeChatCompletions:
    def __init__(self) -> None:
        self.requests: List[dict] = []
        self.content = '{"paragraph": "", "next_step": ""}'
        self.status = 200
        self.raw_body: Optional[str] = None
        self.delay_s = 0.0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._runner: Optional[web.AppRunner] = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers),
                              "body": await request.json()})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.raw_body is not None:
            return web.Response(text=self.raw_body, status=self.status, content_type="application/json")
        body = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": self.requests[-1]["body"].get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.content}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        return web.json_response(body, status=self.status)

    def prompt_text(self) -> str:
        return "\n".join(m["content"] for m in self.requests[-1]["body"]["messages"])
