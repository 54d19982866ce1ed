"""The whole assistant as `make run` starts it, in processes: the Rasa server with the trained
model behind the real connectors, the inbox worker, the action server (bench/rasa_stack.py)
and the CRM timeline consumer; the sandbox provider is left to the test's event loop."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from bench.rasa_stack import RasaStack
from tests.support.processes import project_process
from tests.support.redis_server import RedisServer, free_port


@contextlib.contextmanager
def running_assistant(redis_url: str, folder: Path) -> Iterator[RasaStack]:
    rasa = RasaStack(redis_url, folder, with_sandbox_process=False)
    timeline_port = free_port()
    rasa.env["CRM_TIMELINE_PORT"] = str(timeline_port)
    try:
        rasa.start()
        with project_process(["-m", "threadline.crm.timeline_worker"], f"http://127.0.0.1:{timeline_port}/health",
                             rasa.env, folder / "timeline.log"):
            yield rasa
    finally:
        rasa.stop()


@contextlib.contextmanager
def running_assistant_with_own_redis(folder: Path) -> Iterator[RasaStack]:
    """`running_assistant` on a Redis of its own (other tests flush the shared one)."""
    redis = RedisServer()
    try:
        with running_assistant(redis.url, folder) as stack:
            yield stack
    finally:
        redis.stop()
