"""`bin/threadline followups --dry-run --at ...` through the real entry point: what would be sent
to whom and why, nothing recorded; `python -m threadline.followups` refuses a wrong rules file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from threadline.crm import Database
from threadline.crm.models import Customer, Interaction, Opportunity, OpportunityStageChange
from threadline.crm.models.followups import FollowUp

PROJECT = Path(__file__).resolve().parents[2]


def run(command, url, **env):
    environment = {**os.environ, "CRM_DATABASE_URL": url, "BUSINESS_TIMEZONE": "America/Sao_Paulo", **env}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=PROJECT)


def test_the_dry_run_prints_what_would_go_to_whom_and_records_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    database = Database(url)

    def setup(s):
        s.add(Customer(id="cus_cli", language="en"))
        s.flush()
        at = datetime(2026, 12, 2, 13, 0)  # 10:00 in São Paulo
        s.add(Interaction(customer_id="cus_cli", author="customer", channel="email", occurred_at=at,
                          idempotency_key="c1"))
        s.add(Interaction(customer_id="cus_cli", author="bot", channel="email", occurred_at=at, idempotency_key="c2",
                          response="utter_lead_registered"))
        s.add(Opportunity(id=1, customer_id="cus_cli", product="Nimbus Pillow", stage="qualified", created_at=at,
                          last_touch_at=at))
        s.flush()
        s.add(OpportunityStageChange(opportunity_id=1, stage="qualified", at=at))
    database.transaction(setup)
    early = run([str(PROJECT / "bin" / "threadline"), "followups", "--dry-run", "--at", "2026-12-05 09:59", "--json"], url)
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["decisions"] == []
    done = run([str(PROJECT / "bin" / "threadline"), "followups", "--dry-run", "--at", "2026-12-05 10:00"], url)
    assert done.returncode == 0, done.stderr
    assert "stalled_lead          message cus_cli            email     would_send  \"Hi! Still thinking about " \
           "the Nimbus Pillow?" in done.stdout
    assert "stalled_lead alert would_alert: 1" in done.stdout
    assert database.transaction(lambda s: s.query(FollowUp).count()) == 0
    bad = run([str(PROJECT / "bin" / "threadline"), "followups", "--dry-run", "--at", "5 Dec"], url)
    assert bad.returncode == 2 and "is not a moment like" in bad.stderr
    database.dispose()


def test_the_worker_refuses_a_wrong_rules_file_naming_file_and_line(tmp_path):
    rules = tmp_path / "followups.yml"
    rules.write_text('quiet_hours: "21:00-08:00"\nmax_proactive_every_days: 3\nkinds:\n  stalled_leads:\n'
                     '    alert: true\n    after: {qualified: 3d}\n', encoding="utf-8")
    done = run([sys.executable, "-m", "threadline.followups"], f"sqlite:///{tmp_path / 'crm.sqlite3'}",
               FOLLOWUPS_RULES=str(rules), RASA_AUTH_TOKEN="t", REDIS_URL="redis://127.0.0.1:1")
    assert done.returncode != 0
    assert f"followups: {rules}:4: unknown key 'stalled_leads'" in done.stderr
