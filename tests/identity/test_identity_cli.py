"""bin/threadline customer / import-contacts / link / merge / unlink / identity, end to end
(subprocesses against the test Redis and CRM database)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

CSV = """name,email,phone,external id
Ana Souza,Ana@Example.com,+55 11 98765-4321,A-1
Bruno Lima,bruno@example.com,(21) 99876-5432,B-2
Ana again,ana@example.com,,A-1
Mixed up,ana@example.com,+5521998765432,
Broken,not-an-email,,
"""


def cli(env, *args, ok=True):
    result = subprocess.run([str(PROJECT / "bin" / "threadline"), *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def as_json(env, *args):
    return json.loads(cli(env, *args, "--json").stdout)


def test_operator_commands(redis_url, tmp_path):
    # SQLite only: every command is a new process importing Rasa, and the CRM logic itself
    # runs on both databases in the other identity tests.
    crm_url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    env = {**os.environ, "REDIS_URL": redis_url, "CRM_DATABASE_URL": crm_url, "THREADLINE_VAR_DIR": str(tmp_path)}
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(CSV)

    imported = cli(env, "import-contacts", str(contacts), "--region", "BR", "--json", ok=False)
    assert imported.returncode == 3  # some rows had problems, the rest were imported
    report = json.loads(imported.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 0, 1)
    assert [p["line"] for p in report["problems"]] == [5, 6]  # two owners: not merged; bad email

    ana = as_json(env, "customer", "--channel", "whatsapp", "--address", "5511987654321")
    assert ana["display_name"] == "Ana Souza"
    assert {(i["channel"], i["address"], i["verified"]) for i in ana["identities"]} == {
        ("email", "ana@example.com", True), ("sms", "+5511987654321", True)}
    assert ana["open_items"] == {"opportunities": [], "cases": [], "promises": []}
    bruno = as_json(env, "customer", "--channel", "email", "--address", "Bruno@example.com")
    assert bruno["customer_id"] != ana["customer_id"]

    missing = cli(env, "customer", "--channel", "sms", "--address", "+14155552671", ok=False)
    assert missing.returncode == 1 and "no customer" in missing.stderr

    refused = cli(env, "merge", "--into", ana["customer_id"], "--from", bruno["customer_id"], ok=False)
    assert refused.returncode == 2 and "--by" in refused.stderr  # who and why are required

    merged = as_json(env, "merge", "--into", ana["customer_id"], "--from", bruno["customer_id"],
                     "--by", "agent:carla", "--reason", "same household account")
    after = as_json(env, "customer", "--channel", "email", "--address", "bruno@example.com")
    assert after["customer_id"] == ana["customer_id"] and bruno["customer_id"] in after["aliases"]

    as_json(env, "unlink", "--customer", bruno["customer_id"], "--by", "agent:carla", "--reason", "not the same")
    assert as_json(env, "customer", "--channel", "email", "--address", "bruno@example.com")["customer_id"] == bruno["customer_id"]

    audit = as_json(env, "identity", "audit")
    assert [(e["action"], e["actor"]) for e in audit] == [("unlink", "agent:carla"), ("merge", "agent:carla")]
    assert audit[1]["id"] == merged["audit_id"] and audit[1]["undone_by"] == audit[0]["id"]

    rebuilt = as_json(env, "identity", "rebuild-index")
    assert rebuilt["identifiers"] == 4 and rebuilt["aliases"] == 0
