"""In-process mode only (THREADLINE_INBOX_WORKER unset or `in-process`; `make run` uses an
inbox worker process instead): one thread with its own event loop, where the inbox consumers
run the bot's turns.

A Rasa turn has long synchronous stretches (NLU and policy inference, the Redis tracker
store's blocking client). On the Sanic server's loop they would hold every webhook
acknowledgement behind them; here they only share the GIL with it, so webhooks keep answering
in milliseconds while the bot is busy. Everything the consumers use (Redis clients, HTTP
sessions, the identity resolver) is created inside this loop.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from typing import Any, Awaitable, Optional


class BotLoop:
    _shared: Optional["BotLoop"] = None
    _lock = threading.Lock()

    # A thread waiting for the GIL gets it after at most this long (Python's default: 5 ms).
    # A webhook needs the GIL a few times per request; 5 ms waits would add up to tens of ms.
    GIL_SWITCH_INTERVAL_S = 0.0005

    def __init__(self) -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_INTERVAL_S))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="threadline-bot-loop", daemon=True)
        self.thread.start()

    @classmethod
    def shared(cls) -> "BotLoop":
        with cls._lock:
            if cls._shared is None or not cls._shared.thread.is_alive():
                cls._shared = cls()
            return cls._shared

    def submit(self, coroutine: Awaitable[Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def run(self, coroutine: Awaitable[Any]) -> Any:
        """Run `coroutine` on the bot loop and wait for it from the calling loop."""
        return await asyncio.wrap_future(self.submit(coroutine))
