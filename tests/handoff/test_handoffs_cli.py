"""bin/threadline handoffs [--json], end to end (a subprocess on a SQLite CRM database)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

from threadline.crm import Database
from threadline.crm.models import Handoff
from threadline.handoff.store import OpenHandoff

PROJECT = Path(__file__).resolve().parents[2]


def cli(env, *args):
    result = subprocess.run([str(PROJECT / "bin" / "threadline"), "handoffs", *args], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_handoffs_lists_the_open_ones_most_urgent_first_with_summaries(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    env = {**os.environ, "CRM_DATABASE_URL": url, "THREADLINE_VAR_DIR": str(tmp_path)}
    database = Database(url)
    assert cli(env).strip() == "No open handoffs."
    assert json.loads(cli(env, "--json")) == []

    async def escalate():
        opener = OpenHandoff(database)
        await opener("cus_lead", reason="sales_ready", channel="instagram",
                     summary_text="Lena wants 2 Trailhead Backpacks.\nIntent: purchase_intent",
                     summary={"paragraph": "Lena wants 2 Trailhead Backpacks."})
        await opener("cus_angry", reason="complaint", channel="email",
                     summary_text="Bruno complains about late order TL-48213.",
                     summary={"paragraph": "Bruno complains about late order TL-48213."})
        done = await opener("cus_done", reason="requested", channel="sms", summary_text="", summary={})
        return done.handoff.id

    done_id = asyncio.run(escalate())

    def settle(session):
        session.get(Handoff, done_id).status = "resolved"
        for row in session.query(Handoff).filter(Handoff.customer_id == "cus_lead"):
            row.created_at -= timedelta(minutes=75)

    database.transaction(settle)
    database.dispose()

    listed = json.loads(cli(env, "--json"))
    assert [(h["customer_id"], h["priority"], h["reason"], h["status"]) for h in listed] == [
        ("cus_angry", 1, "complaint", "waiting"), ("cus_lead", 2, "sales_ready", "waiting")]
    assert listed[0]["summary"] == {"paragraph": "Bruno complains about late order TL-48213."}
    assert listed[1]["channel"] == "instagram" and listed[1]["id"].startswith("hof_")

    text = cli(env)
    angry, lead = text.strip().split("\n\n")
    assert angry.startswith(f"{listed[0]['id']}  P1  waiting  complaint  cus_angry  on email, waiting 0m")
    assert "    Bruno complains about late order TL-48213." in angry
    assert "waiting 1h15m" in lead and "    Intent: purchase_intent" in lead
    assert "cus_done" not in text
