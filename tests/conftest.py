"""Shared pytest fixtures.

`redis_server` is one private redis-server per test session; `redis_url` gives each test an
empty database on it, and `store` the project's tracker store on that database.
"""
from __future__ import annotations

import pytest

from tests.support.processes import action_server
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
async def store(redis_url):
    """The tracker store as Rasa uses it (endpoints.yml), on this test's empty Redis database."""
    from tests.support.conversations import DOMAIN
    from threadline.conversation.tracker_store import CustomerTrackerStore

    tracker_store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    yield tracker_store
    await tracker_store.close()


@pytest.fixture(scope="session")
def action_endpoint(tmp_path_factory):
    """The project's action server (`python -m threadline.action_server --actions actions`) with a throwaway
    SQLite CRM. The assistant's `action_session_start` is a custom action, so any test that
    runs the trained model through Rasa's processor needs it, as `make run` has it.
    """
    from rasa.utils.endpoints import EndpointConfig

    folder = tmp_path_factory.mktemp("action-server")
    env = {"CRM_DATABASE_URL": f"sqlite:///{folder / 'crm.sqlite3'}"}
    with action_server(env, folder / "actions.log") as url:
        yield EndpointConfig(url=url)
