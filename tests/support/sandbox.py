"""The sandbox provider (threadline/sandbox) served in the test's own event loop, so a test can
read what the bot sent (`provider.sent`, `provider.conversations`) without HTTP calls."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator, Mapping

from aiohttp import web

from threadline.sandbox.access import HEADER
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.provider import Sandbox


def page_headers(env: Mapping[str, str]) -> dict:
    """What a script sends to the simulator API: the page token `make run` printed."""
    return {HEADER: env["THREADLINE_SANDBOX_TOKEN"]}


@contextlib.asynccontextmanager
async def serve_sandbox(env: Mapping[str, str], port: int, receipts: bool = True) -> AsyncIterator[Sandbox]:
    """Serve the sandbox for the channel settings in `env` on 127.0.0.1:`port`."""
    provider = Sandbox(SandboxConfig.from_env(env), receipts=receipts)
    runner = web.AppRunner(provider.app())
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
        yield provider
    finally:
        await runner.cleanup()
