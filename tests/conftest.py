"""Shared pytest fixtures.

`redis_server` is one private redis-server per test session; `redis_url` gives each test an
empty database on it, and `store` the project's tracker store on that database.
`trained_processor` is the trained model, loaded once per test session (per xdist worker).
The files are run longest first (tests/support/scheduling.py).
"""
from __future__ import annotations

import pytest

from tests.support.processes import action_server
from tests.support.redis_server import RedisServer
from tests.support.scheduling import CollectionOrderFileScheduling, longest_files_first


def pytest_collection_modifyitems(items):
    longest_files_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (make test-unit) keeping the longest-first order of the collection."""
    if config.getvalue("dist") == "loadfile":
        return CollectionOrderFileScheduling(config, log)
    return None


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
def trained_processor():
    """The trained model, loaded once per test process (each load took 20-55 s here): tests wrap it in
    their own Agent with their own stores and action server (tests/support/assistant.py)."""
    from tests.support.assistant import load_processor

    return load_processor()


@pytest.fixture(scope="session")
def assistant_stack(tmp_path_factory):
    """The assistant's processes (tests/support/assistant_stack.py), started once per test
    process for the test files that talk to it through its webhooks and HTTP API; each of them
    writes as customers (addresses) of its own. Its own Redis: other tests flush the shared one."""
    from tests.support.assistant_stack import running_assistant_with_own_redis

    with running_assistant_with_own_redis(tmp_path_factory.mktemp("assistant")) as stack:
        yield stack


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
