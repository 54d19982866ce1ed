"""`bin/threadline migrate` is the one place that migrates when services run with
THREADLINE_MIGRATE=check; without it (make run from a bare checkout) opening the CRM migrates."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from threadline.crm.db import Database, SchemaNotCurrent
from threadline.settings import PROJECT_DIR


def migrate(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRM_DATABASE_URL": url, "THREADLINE_MIGRATE": "check"}
    return subprocess.run([str(PROJECT_DIR / "bin" / "threadline"), "migrate", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_services_refuse_an_old_schema_until_migrate_has_run(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    monkeypatch.setenv("THREADLINE_MIGRATE", "check")
    with pytest.raises(SchemaNotCurrent, match=r"revision none, this version needs \w+: run `bin/threadline migrate`"):
        Database(url)

    result = migrate(url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "up to date"
    database = Database(url)  # current now: the check passes
    current, head = database.schema_revisions()
    assert current == head
    database.dispose()
    assert migrate(url).returncode == 0  # running it again changes nothing


def test_without_the_check_opening_the_database_migrates_it(tmp_path, monkeypatch):
    monkeypatch.delenv("THREADLINE_MIGRATE", raising=False)
    database = Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    current, head = database.schema_revisions()
    assert current == head
    database.dispose()
