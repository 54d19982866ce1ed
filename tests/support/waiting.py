"""Polling for conditions that become true asynchronously (a reply arrives, a row appears)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable


async def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll a check (sync or async) until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
