"""Shared pytest fixtures.

`redis_server` is one private redis-server per test session; `redis_url` gives each test an
empty database on it.
"""
from __future__ import annotations

import pytest

from tests.support.processes import project_process
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def action_endpoint(tmp_path_factory):
    """The project's action server (`python -m rasa_sdk --actions actions`) with a throwaway
    SQLite CRM. The assistant's `action_session_start` is a custom action, so any test that
    runs the trained model through Rasa's processor needs it, as `make run` has it.
    """
    from rasa.utils.endpoints import EndpointConfig

    folder = tmp_path_factory.mktemp("action-server")
    port = free_port()
    env = {"CRM_DATABASE_URL": f"sqlite:///{folder / 'crm.sqlite3'}", "ACTION_PORT": str(port)}
    with project_process(["-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                         f"http://127.0.0.1:{port}/health", env, folder / "actions.log"):
        yield EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
