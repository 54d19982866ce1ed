"""`bin/threadline agent add|list|disable`: console logins, passwords stored only as hashes."""
from __future__ import annotations

import json
import os
import subprocess

from sqlalchemy import select

from threadline.console.agents import Authenticate
from threadline.crm import Database
from threadline.crm.models import Agent
from tests.support.processes import PROJECT


def threadline(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(PROJECT / "bin" / "threadline"), *args], input=stdin, capture_output=True,
                          text=True, cwd=PROJECT, env={**os.environ, "CRM_DATABASE_URL": url}, timeout=120)


def test_agents_are_added_listed_and_disabled_and_only_a_hash_is_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    added = threadline(url, "agent", "add", "carla", "--password-stdin", "--json", stdin="a long enough secret\n")
    assert added.returncode == 0, added.stderr
    agent = json.loads(added.stdout)
    assert agent["name"] == "carla" and agent["id"].startswith("agt_") and agent["active"] is True

    again = threadline(url, "agent", "add", "carla", "--password-stdin", stdin="another long secret\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    short = threadline(url, "agent", "add", "dora", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr

    listed = json.loads(threadline(url, "agent", "list", "--json").stdout)
    assert [a["name"] for a in listed["agents"]] == ["carla"]

    db = Database(url)
    stored = db.transaction(lambda s: s.scalar(select(Agent.password_hash)))
    assert stored.startswith("scrypt$") and "a long enough secret" not in stored
    assert Authenticate(db)("carla", "a long enough secret").id == agent["id"]
    assert Authenticate(db)("carla", "a long enough secreT") is None

    disabled = threadline(url, "agent", "disable", "carla", "--json")
    assert disabled.returncode == 0 and json.loads(disabled.stdout)["active"] is False
    assert Authenticate(db)("carla", "a long enough secret") is None
    assert threadline(url, "agent", "disable", "nobody").returncode == 1
    db.dispose()
