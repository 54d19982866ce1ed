"""The launcher as `make run` runs it: THREADLINE_INBOX_WORKERS workers, any child that dies is
started again (the others go on), and a REDIS_URL that does not answer stops start-up."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.support.launcher_run import LauncherRun, alive, clean_env, descendants, free_port_pair, health
from tests.support.processes import PROJECT
from tests.support.redis_server import free_port
from threadline.training import model_path


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def pid_running(launcher_pid: int, module: str) -> int:
    """The launcher's one child whose command line runs `python -m module`."""
    [pid] = [pid for pid in descendants(launcher_pid)
             if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", module.encode()]]
    return pid


@pytest.mark.slow(minutes=2)
def test_two_inbox_workers_run_and_any_dead_child_is_started_again(tmp_path):
    assert model_path().is_file(), "train first: make train"
    worker_port, console_port = free_port_pair(), free_port()
    env = clean_env(
        tmp_path, THREADLINE_INBOX_WORKERS="2", THREADLINE_INBOX_WORKER_PORT=str(worker_port),
        CONSOLE_PORT=str(console_port), RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()),
        THREADLINE_REDIS_PORT=str(free_port()), THREADLINE_SANDBOX_PORT=str(free_port()),
        CRM_TIMELINE_PORT=str(free_port()), FOLLOWUPS_PORT=str(free_port()),
    )
    run = LauncherRun(env)
    try:
        banner = run.wait_for_line("Press Ctrl-C to stop everything.", 300)
        assert any(f"Inbox worker 1 http://127.0.0.1:{worker_port}/health" in line for line in run.lines)
        assert any(f"Inbox worker 2 http://127.0.0.1:{worker_port + 1}/health" in line for line in run.lines)
        first, second = health(worker_port), health(worker_port + 1)
        assert first and second and first["status"] == second["status"] == "ok"
        assert first["pid"] != second["pid"]
        before = descendants(run.process.pid)

        os.kill(second["pid"], signal.SIGKILL)
        run.wait_for_line("threadline: inbox worker 2 exited (killed by SIGKILL); restarting it in 1s (restart 1)",
                          30, after=banner)
        restarted = wait_until(lambda: (h := health(worker_port + 1)) and h["status"] == "ok" and h, 300,
                               "the restarted inbox worker 2 to answer health")
        assert restarted["pid"] != second["pid"] and not alive(second["pid"])
        # The others went on: the same processes, the first worker still answering.
        assert [pid for pid in before - {second["pid"]} if not alive(pid)] == []
        assert health(worker_port)["pid"] == first["pid"]

        # Any child, not only inbox workers: the console too.
        console = pid_running(run.process.pid, "threadline.console")
        os.kill(console, signal.SIGKILL)
        run.wait_for_line("threadline: agent console exited (killed by SIGKILL); restarting it in 1s (restart 1)",
                          30, after=banner)
        wait_until(lambda: health(console_port), 120, "the restarted console to answer health")
        assert pid_running(run.process.pid, "threadline.console") != console
        assert run.process.poll() is None

        children = descendants(run.process.pid)
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=60) == 0
        wait_until(lambda: not [pid for pid in children if alive(pid)], 10, "every child to be gone")
    finally:
        run.close()


def test_a_redis_url_that_does_not_answer_stops_start_up_before_anything_starts(tmp_path):
    closed = free_port()
    env = clean_env(tmp_path, REDIS_URL=f"redis://:hunter2secret@127.0.0.1:{closed}/0",
                    THREADLINE_REDIS_PORT=str(free_port()))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "threadline.launcher"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert f"threadline: REDIS_URL redis://:***@127.0.0.1:{closed}/0 does not answer (" in result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    assert "starting" not in result.stdout  # no service, the project-local Redis least of all
    assert not (tmp_path / "var" / "redis").exists()
