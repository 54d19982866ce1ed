"""`python -m threadline.inbox_worker`: the process where the webhook channels' bot turns run.

The Rasa server's channels only verify, parse, deduplicate, store in the inbox and
acknowledge; this process (what `make run` starts, THREADLINE_INBOX_WORKERS of them) loads
the same agent (model, endpoints.yml) and runs each enabled channel's inbox consumer
(`WebhookInput.consume`, connectors/webhook/channel.py) against it: one customer's messages
one at a time in accepted order, whichever worker takes them, under a lease renewed while a
turn runs; a dead worker's lanes are taken over when its leases lapse (connectors/webhook/inbox.py).
A Rasa turn holds the GIL for tens of milliseconds at a time; here it never holds the webhooks'.

    python -m threadline.inbox_worker --model models/threadline.tar.gz \\
        --endpoints endpoints.yml --credentials credentials.yml

Health: GET /health on THREADLINE_INBOX_WORKER_PORT (default 5057; `make run` gives worker i
of THREADLINE_INBOX_WORKERS port + i): 503 while the model loads, 200 once the consumers run;
the JSON names the channels and the process id. The process lowers its own CPU priority by
THREADLINE_INBOX_WORKER_NICE (default 10; 0 keeps it): on a shared host the webhooks'
acknowledgements, which a provider waits for, get the CPU before bot turns, which nobody
waits for within milliseconds. SIGTERM/SIGINT: running turns finish (10 s at most; an
unfinished one is taken again when its lease lapses, or at once by this worker's next run),
then the process exits.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
from typing import Any, Awaitable, Callable, List

from aiohttp import web

from threadline.quiet import quiet_library_warnings

log = logging.getLogger("threadline.inbox_worker")

DEFAULT_PORT = 5057
DEFAULT_NICE = 10


class InboxWorker:
    """Runs the inbox consumers of `channels` against `agent` (anything with Rasa's
    `handle_message(UserMessage)` and `is_ready()`) on the running loop."""

    def __init__(self, channels: List[Any], agent: Any) -> None:
        self.channels = channels
        self.agent = agent
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Until `stop`; raises as soon as a consumer fails (the process must not go on half deaf)."""
        tasks = [asyncio.create_task(channel.consume(self.agent.handle_message, self.agent.is_ready))
                 for channel in self.channels]
        if not tasks:
            await self._stopped.wait()  # nothing to consume: idle until stopped
            return
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()

    async def stop(self) -> None:
        self._stopped.set()
        await asyncio.gather(*(channel.stop_consuming() for channel in self.channels))


def webhook_channels(credentials_path: str) -> List[Any]:
    """The enabled inbox channels of credentials.yml, built exactly as `rasa run` builds them."""
    from rasa.core.run import create_http_input_channels

    from connectors.webhook.channel import WebhookInput

    return [channel for channel in create_http_input_channels(None, credentials_path)
            if isinstance(channel, WebhookInput) and channel.enabled()]


def health_app(state: dict) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.json_response(state, status=200 if state["status"] == "ok" else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def serve(load_agent: Callable[[], Awaitable[Any]], channels: List[Any], port: int) -> None:
    """Load the agent, consume until a signal arrives, then stop cleanly."""
    # The pid tells a supervisor (and its tests) a restarted worker from the one it replaced.
    state = {"status": "loading", "channels": [channel.name() for channel in channels], "pid": os.getpid()}
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    runner = web.AppRunner(health_app(state))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    agent = None
    try:
        agent = await load_agent()
        if stopping.is_set():
            return
        # Keep the loaded model's objects out of every full garbage collection (see
        # connectors/webhook/channel.py): collections would pause the bot for ~0.7 s each.
        gc.freeze()
        worker = InboxWorker(channels, agent)
        running = asyncio.create_task(worker.run())
        state["status"] = "ok"
        log.info("inbox worker: consuming %s; health on http://127.0.0.1:%d/health",
                 ", ".join(state["channels"]) or "nothing (no inbox channel enabled)", port)
        signalled = asyncio.create_task(stopping.wait())
        await asyncio.wait({running, signalled}, return_when=asyncio.FIRST_COMPLETED)
        state["status"] = "stopping"
        await worker.stop()
        signalled.cancel()
        await running  # a consumer's failure ends the process with an error
    finally:
        await runner.cleanup()
        broker = getattr(getattr(agent, "tracker_store", None), "event_broker", None)
        if broker is not None:
            await broker.close()


def configure_like_rasa() -> None:
    """Logging (LOG_LEVEL, default INFO; structlog too, or every turn logs at debug level) and
    TensorFlow set up as `rasa run` sets them up."""
    from rasa.utils import io as rasa_io
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog
    from rasa.utils.tensorflow import environment as tf_env

    configure_logging_and_warnings(None, warn_only_once=True, filter_repeated_logs=True)
    # One TensorFlow thread per kind unless told otherwise: a turn's small models gain little
    # from more, and a worker that never spreads over every core leaves one to the webhooks.
    # More throughput: more worker processes (each with its own THREADLINE_INBOX_CONSUMER).
    for variable in ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
        os.environ.setdefault(variable, "1")
    tf_env.setup_tf_environment()
    rasa_io.configure_colored_logging(None)
    configure_structlog(None)


def main() -> None:
    quiet_library_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--credentials", default="credentials.yml")
    args = parser.parse_args()
    os.nice(int(os.environ.get("THREADLINE_INBOX_WORKER_NICE") or DEFAULT_NICE))
    configure_like_rasa()
    from connectors.webhook.runtime import warn_if_worker_mode_set
    from threadline.rasa_server import prepare_to_serve

    prepare_to_serve(args.endpoints)
    warn_if_worker_mode_set()

    async def load_agent() -> Any:
        from rasa.core.agent import load_agent as rasa_load_agent
        from rasa.core.utils import AvailableEndpoints

        endpoints = AvailableEndpoints.read_endpoints(args.endpoints)
        root = logging.getLogger()
        level = root.level
        agent = await rasa_load_agent(model_path=args.model, endpoints=endpoints)
        # Loading the model's libraries sets the root logger to WARNING: the consumers'
        # INFO lines (replayed and reclaimed entries, held messages sent) must stay.
        root.setLevel(level)
        return agent

    port = int(os.environ.get("THREADLINE_INBOX_WORKER_PORT") or DEFAULT_PORT)
    asyncio.run(serve(load_agent, webhook_channels(args.credentials), port))


if __name__ == "__main__":
    main()
