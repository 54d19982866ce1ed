"""`bin/threadline serve COMPONENT` runs one component as `make run`'s launcher does."""
from __future__ import annotations

import os
import subprocess
import urllib.request

from tests.support.processes import wait_http_ok
from tests.support.redis_server import free_port
from threadline.components import COMPONENTS
from threadline.settings import PROJECT_DIR

THREADLINE = str(PROJECT_DIR / "bin" / "threadline")


def test_serve_timeline_runs_the_timeline_worker_in_the_foreground(redis_url, tmp_path):
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}",
           "CRM_TIMELINE_PORT": str(port)}
    with open(tmp_path / "timeline.log", "ab") as log:
        process = subprocess.Popen([THREADLINE, "serve", "timeline"], env=env, stdout=log, stderr=log,
                                   start_new_session=True)
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/health", process, timeout=60)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                assert response.status == 200
            # exec: the component is the process started, so signals reach it directly.
            assert "timeline_worker" in open(f"/proc/{process.pid}/cmdline", "rb").read().decode(errors="replace")
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_serve_refuses_without_the_shared_stores_and_lists_the_components():
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CRM_DATABASE_URL")}
    refused = subprocess.run([THREADLINE, "serve", "worker"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "needs REDIS_URL and CRM_DATABASE_URL" in refused.stderr
    unknown = subprocess.run([THREADLINE, "serve", "everything"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and all(name in unknown.stderr for name in COMPONENTS)
