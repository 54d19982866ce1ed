"""The Rasa server must refuse to start on a store it cannot use, instead of Rasa's silent
fallback to an in-memory store."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rasa.core.tracker_store import TrackerStore
from rasa.utils.endpoints import EndpointConfig

from tests.support.redis_server import free_port
from threadline import rasa_server

PROJECT = Path(__file__).resolve().parents[2]


def start_server(endpoints: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "threadline.rasa_server", "run", "--endpoints", str(endpoints),
         "--port", str(free_port())],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def write_endpoints(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text(text)
    return path


def test_unknown_tracker_store_class_stops_the_server(tmp_path):
    endpoints = write_endpoints(tmp_path, (
        "tracker_store:\n  type: connectors.no_such_module.Store\n"
        "lock_store:\n  type: redis\n"
    ))
    result = start_server(endpoints)
    assert result.returncode != 0
    assert "tracker_store type 'connectors.no_such_module.Store' cannot be loaded" in result.stderr


def test_unknown_lock_store_class_stops_the_server(tmp_path, redis_server):
    endpoints = write_endpoints(tmp_path, (
        f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: {redis_server.port}\n"
        "lock_store:\n  type: connectors.missing.LockStore\n"
    ))
    result = start_server(endpoints)
    assert result.returncode != 0
    assert "lock_store type 'connectors.missing.LockStore' cannot be loaded" in result.stderr


def test_unreachable_redis_stops_the_server(tmp_path):
    closed_port = free_port()
    endpoints = write_endpoints(tmp_path, (
        f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: {closed_port}\n"
        f"lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: {closed_port}\n"
    ))
    result = start_server(endpoints)
    assert result.returncode != 0
    assert "is unreachable" in result.stderr


def test_missing_tracker_store_is_refused(tmp_path):
    endpoints = write_endpoints(tmp_path, "lock_store:\n  type: redis\n")
    result = start_server(endpoints)
    assert result.returncode != 0
    assert "names no shared tracker_store" in result.stderr


def test_rasa_fallback_to_memory_becomes_an_error():
    rasa_server._forbid_silent_fallback()
    with pytest.raises(SystemExit, match="cannot be loaded"):
        TrackerStore.create(EndpointConfig(type="connectors.no_such_module.Store"))
