"""The timeline worker killed after writing a batch and before committing it (failpoint
before_timeline_commit), then started again: every message reaches the CRM exactly once.
The real worker process (`python -m threadline.crm.timeline_worker`, as `make run` starts it),
real Redis, SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy import select

from tests.crm.test_timeline import say
from tests.support.processes import PROJECT, project_process
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.conversation import failpoints
from threadline.crm.models import Interaction


async def stored_rows(database) -> list:
    return await database.run(lambda s: s.execute(select(Interaction.idempotency_key, Interaction.text)).all())


async def test_killed_before_the_commit_then_restarted_loses_and_duplicates_nothing(
        store, database, crm_url, redis_url, tmp_path):
    for n in range(3):
        await say(store, "cus_ana", "whatsapp", f"ana {n}", f"re ana {n}", f"wa-{n}")
        await say(store, "cus_bia", "sms", f"bia {n}", f"re bia {n}", f"SM{n}")
    port = free_port()
    env = {"REDIS_URL": redis_url, "CRM_DATABASE_URL": crm_url, "CRM_TIMELINE_PORT": str(port),
           "THREADLINE_FAILPOINTS": "before_timeline_commit=1",
           "THREADLINE_FAILPOINTS_DIR": str(tmp_path / "failpoints")}

    first = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "threadline.crm.timeline_worker"], cwd=PROJECT,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=180)
    assert first.returncode == failpoints.EXIT_CODE, first.stderr[-2000:]
    assert await stored_rows(database) == []  # the batch was written, never committed

    with project_process(["-m", "threadline.crm.timeline_worker"], f"http://127.0.0.1:{port}/health",
                         env, tmp_path / "timeline.log"):
        await wait_for(lambda: _count_is(database, 12), timeout=60)
        await say(store, "cus_ana", "whatsapp", "ana after the restart", "re after", "wa-9")
        await wait_for(lambda: _count_is(database, 14), timeout=60)
    rows = await stored_rows(database)
    assert len({key for key, _ in rows}) == len(rows) == 14
    assert sorted(text for _, text in rows) == sorted(
        [f"{who} {n}" for who in ("ana", "bia") for n in range(3)]
        + [f"re {who} {n}" for who in ("ana", "bia") for n in range(3)]
        + ["ana after the restart", "re after"])


async def _count_is(database, expected: int) -> bool:
    return len(await stored_rows(database)) == expected
