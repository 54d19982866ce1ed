"""`bin/threadline metrics` and `bin/threadline demo-operation` through the real entry point."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.insights.history import History, local
from tests.identity.conftest import crm_url, postgres_database  # noqa: F401  (shared fixtures)
from threadline.crm import Database

PROJECT = Path(__file__).resolve().parents[2]


def threadline(*args: str, url: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CRM_DATABASE_URL": url, "BUSINESS_HOURS": "", "BUSINESS_TIMEZONE": "", **env}
    return subprocess.run([str(PROJECT / "bin" / "threadline"), *args], capture_output=True, text=True,
                          env=environment, timeout=300, cwd=PROJECT)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'crm.sqlite3'}"


def test_metrics_json_prints_every_metric(crm_url):
    url = crm_url  # SQLite and PostgreSQL
    database = Database(url)
    history = History(database)
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="payment_methods")
    history.say(a, "bot", local(2, 10, 0, 4), response="utter_payment_methods")
    database.dispose()

    done = threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", "--json", url=url)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["days"] == {"from": "2026-11-01", "to": "2026-11-30", "time_zone": "America/Sao_Paulo"}
    assert payload["from"] == "2026-11-01T03:00:00Z"  # local midnight in São Paulo
    metrics = payload["metrics"]
    assert {"first_useful_response", "no_follow_up", "stalled_leads", "repeated_information",
            "handoffs_with_complete_context", "recovered_opportunities", "recurring_questions", "channel_funnel",
            "abandonment_reasons", "human_first_response", "bot_containment", "handoff_rate", "reopen_rate",
            "durable_resolution", "csat", "volume_by_channel", "bot_failures"} == set(metrics)
    assert metrics["first_useful_response"]["value"] == 4.0 and metrics["first_useful_response"]["rows"] == 1
    assert metrics["bot_containment"]["value"] == 1.0

    with_rows = json.loads(threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", "--json", "--rows",
                                      "--channel", "whatsapp", url=url).stdout)
    assert with_rows["metrics"]["volume_by_channel"]["rows"][0]["customer_id"] == "cus_a"
    text = threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", url=url)
    assert "first_useful_response" in text.stdout and "0.1 min" in text.stdout


@pytest.mark.parametrize("args, says", [
    (("--from", "2026-11-30", "--to", "2026-11-01"), "the range ends (2026-11-01) before it starts (2026-11-30)"),
    (("--from", "2016-01-01", "--to", "2025-12-31"), "the range is 3653 days; at most 366 days at a time"),
    (("--from", "2026-02-30", "--to", "2026-03-01"), "--from '2026-02-30' is not a date (YYYY-MM-DD)"),
    (("--from", "2026-11-01", "--to", "2026-11-30", "--channel", "fax"), "unknown channel 'fax'"),
    (("--from", "2026-11-01"), "the following arguments are required: --to"),
])
def test_bad_input_is_a_clear_error_with_exit_status_2(url, args, says):
    done = threadline("metrics", *args, "--json", url=url)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_bad_business_hours_setting_is_named(url):
    done = threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", url=url,
                      BUSINESS_HOURS="weekdays 9 to 6")
    assert done.returncode == 2 and "BUSINESS_HOURS: 'weekdays 9 to 6'" in done.stderr
    done = threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", url=url, BUSINESS_TIMEZONE="Brasil")
    assert done.returncode == 2 and "BUSINESS_TIMEZONE: 'Brasil' is not a time zone" in done.stderr


def test_demo_operation_is_reproducible_and_feeds_every_metric(url, tmp_path):
    made = threadline("demo-operation", "--customers", "120", "--end", "2026-11-30", "--json", url=url)
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["customers"] == 120 and summary["replaced_earlier_demo"] is False
    first = json.loads(threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", "--json", url=url).stdout)

    again = json.loads(threadline("demo-operation", "--customers", "120", "--end", "2026-11-30", "--json",
                                  url=url).stdout)
    assert again["replaced_earlier_demo"] is True
    assert {k: v for k, v in again.items() if k != "replaced_earlier_demo"} == \
        {k: v for k, v in summary.items() if k != "replaced_earlier_demo"}
    second = json.loads(threadline("metrics", "--from", "2026-11-01", "--to", "2026-11-30", "--json", url=url).stdout)
    assert first["metrics"] == second["metrics"]  # same seed, same history, same figures

    metrics = first["metrics"]
    channels = metrics["volume_by_channel"]["details"]["channels"]
    assert {"whatsapp", "instagram", "sms", "email", "webchat"} <= set(channels)
    assert metrics["stalled_leads"]["value"] > 0 and metrics["recovered_opportunities"]["numerator"] > 0
    assert metrics["handoff_rate"]["numerator"] > 0 and metrics["human_first_response"]["details"]["without_agent_reply"] > 0
    assert metrics["abandonment_reasons"]["value"] > 0 and metrics["reopen_rate"]["numerator"] > 0

    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    seeded = threadline("demo-operation", "--customers", "120", "--seed", "5", "--end", "2026-11-30", "--json", url=other)
    assert json.loads(seeded.stdout)["messages"] != summary["messages"]


def test_demo_operation_refuses_a_database_with_real_customers(url):
    database = Database(url)
    History(database).customer("cus_real")
    database.dispose()
    done = threadline("demo-operation", "--customers", "10", url=url)
    assert done.returncode == 1
    assert "1 customer(s) that are not demo customers" in done.stderr
    database = Database(url)
    from sqlalchemy import func, select
    from threadline.crm.models import Customer
    assert database.transaction(lambda s: s.scalar(select(func.count()).select_from(Customer))) == 1
    database.dispose()


def test_metrics_rebuild_aggregates_fills_them_from_the_stored_messages(url):
    from tests.insights.history import HOURS, NOVEMBER
    from threadline.insights.aggregates import aggregated_metrics

    database = Database(url)
    history = History(database)
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="payment_methods")
    history.say(a, "bot", local(2, 10, 0, 4), response="utter_payment_methods")
    assert aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last)["volume_by_channel"].value == 0
    done = threadline("metrics", "--rebuild-aggregates", "--json", url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == 2
    volume = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last)["volume_by_channel"]
    assert volume.value == 1 and volume.details["channels"]["whatsapp"]["bot_messages"] == 1
    database.dispose()
    assert threadline("metrics", url=url).returncode == 2  # neither a range nor a rebuild
