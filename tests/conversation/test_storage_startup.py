"""The strict `rasa` entry point refuses to start when the stores' Redis is unusable."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from threadline.settings import PROJECT_DIR
from tests.support.redis_server import free_port


def start_rasa(redis_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": redis_url, "ACTION_PORT": "5999", "RASA_TELEMETRY_ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "threadline.rasa_server", "run", "--endpoints", "endpoints.yml",
         "--port", str(free_port())],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


# Named ids: the free port differs per collection, and parallel workers must collect alike.
@pytest.mark.parametrize("redis_url, message", [
    (f"redis://127.0.0.1:{free_port()}/0", "unreachable"),
    ("http://127.0.0.1:6379/0", "is not a Redis URL"),
], ids=["nothing-listens", "http-url"])
def test_server_refuses_to_start_without_a_usable_redis(redis_url, message):
    result = start_rasa(redis_url)
    assert result.returncode != 0
    assert "threadline: tracker_store threadline.conversation.tracker_store.CustomerTrackerStore cannot connect" in result.stderr
    assert message in result.stderr


def test_lock_store_is_checked_too(redis_url, tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: threadline.conversation.tracker_store.CustomerTrackerStore\n  url: {redis_url}\n"
        f"lock_store:\n  type: threadline.conversation.lock_store.CustomerLockStore\n"
        f"  url: redis://127.0.0.1:{free_port()}/0\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "threadline.rasa_server", "run", "--endpoints", str(endpoints)],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "lock_store threadline.conversation.lock_store.CustomerLockStore cannot connect" in result.stderr


def test_project_endpoints_pass_the_check_with_a_live_redis(redis_url, monkeypatch):
    from threadline.rasa_server import check_stores

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ACTION_PORT", "5999")
    check_stores(str(PROJECT_DIR / "endpoints.yml"))  # raises StoreConfigError otherwise
