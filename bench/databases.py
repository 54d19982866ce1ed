"""Run a CRM-backed benchmark on SQLite and, when available, on a throwaway PostgreSQL."""
from __future__ import annotations

import asyncio
import tempfile
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from tests.support.crm_database import start_postgres
from tests.support.redis_server import RedisServer

RunBackend = Callable[[str, str], Awaitable[Dict[str, Any]]]


def run_on_both_databases(run_backend: RunBackend) -> Tuple[Dict[str, Dict[str, Any]], List[str]]:
    """`run_backend(crm_database_url, redis_url)` per database; returns (results, notes)."""
    redis = RedisServer()
    results: Dict[str, Dict[str, Any]] = {}
    notes: List[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = asyncio.run(run_backend(f"sqlite:///{tmp}/crm.sqlite3", redis.url))
        redis.flush()
        postgres, why = start_postgres()
        if postgres is None:
            notes.append(why)
        else:
            try:
                results["postgresql"] = asyncio.run(run_backend(postgres.url, redis.url))
            finally:
                postgres.drop()
    finally:
        redis.stop()
    return results, notes
