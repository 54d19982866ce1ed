"""`make run` end to end: every service comes up (the sandbox provider included, for channels
without credentials), the bot answers on the REST channel and, through the inbox worker, on
WhatsApp, and Ctrl-C (SIGINT) leaves no process behind."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

import pytest
import redis
from alembic.script import ScriptDirectory

from tests.support.launcher_run import FOREIGN_NAMES, FOREIGN_PREFIXES, alive, descendants
from tests.support.redis_server import free_port
from connectors.webhook.runtime import default_consumer_name
from threadline.crm.db import alembic_config
from threadline.launcher import Backoff, LaunchError, Launcher, describe_exit, email_state, redis_env
from threadline.sandbox.modes import CHANNEL_VARS, OTHER_CHANNEL_VARS
from threadline.settings import Settings
from threadline.training import model_path

PROJECT = Path(__file__).resolve().parents[2]


def post_json(url: str, payload: dict, headers: Optional[dict] = None) -> list:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_make_run_serves_the_bot_and_ctrl_c_stops_everything(tmp_path):
    assert model_path().is_file(), "train first: make train"
    rasa_port, action_port, redis_port, sandbox_port = free_port(), free_port(), free_port(), free_port()
    console_port, worker_port, timeline_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in FOREIGN_NAMES and not k.startswith(FOREIGN_PREFIXES)},
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "THREADLINE_REDIS_PORT": str(redis_port),
        "THREADLINE_SANDBOX_PORT": str(sandbox_port),
        "CONSOLE_PORT": str(console_port),
        "THREADLINE_INBOX_WORKER_PORT": str(worker_port),
        "CRM_TIMELINE_PORT": str(timeline_port),
        "FOLLOWUPS_PORT": str(free_port()),
        "THREADLINE_VAR_DIR": str(tmp_path / "var"),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "threadline.launcher"], cwd=PROJECT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        for line in launcher.stdout:
            output.append(line)
            if "Press Ctrl-C to stop everything." in line or time.monotonic() > deadline:
                break
        assert any("Threadline is up" in line for line in output), "".join(output[-40:])
        assert any("generated for this run" in line for line in output)
        simulator = f"http://127.0.0.1:{sandbox_port}/"
        # The simulator's address carries the page token the sandbox generated for this run.
        [banner] = [line for line in output if line.startswith(f"  Simulator     {simulator}?token=")]
        assert banner.endswith("  (sandbox for whatsapp,instagram,sms,rcs)\n")
        page_url = banner.split()[1]
        token = {"X-Sandbox-Token": page_url.split("?token=")[1]}
        assert any(line.startswith("  SANDBOX       whatsapp, instagram, sms, rcs:") for line in output)
        assert any("Email         disabled (EMAIL_ADDRESS" in line for line in output)
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(page_url, timeout=10) as page:  # the redirect sets the cookie the page uses
            assert page.url == simulator and "customer simulator" in page.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/", timeout=10) as page:
            assert "/login?next=" in page.url  # the agent console asks for a login
        with urllib.request.urlopen(f"http://127.0.0.1:{rasa_port}/webhooks/rcs/", timeout=10) as health:
            assert json.loads(health.read()) == {"status": "ok", "sandbox": True}  # RCS on the RBM sandbox

        reply = post_json(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
            {"sender": "launcher_test", "message": "are you a bot?"},
        )
        assert reply and "bot" in reply[0]["text"].lower()

        # The conversation was stored in the project-local Redis (password-protected), with
        # append-only persistence, under the REST namespace (never a customer id).
        password = (tmp_path / "var" / "redis" / "password").read_text().strip()
        local_redis = redis.Redis(port=redis_port, password=password)
        assert any(b"rest:launcher_test" in key for key in local_redis.keys("*"))
        assert local_redis.config_get("appendonly")["appendonly"] == "yes"

        # The CRM was migrated at start, and the timeline consumer copied both messages to it.
        crm = sqlite3.connect(tmp_path / "var" / "crm.sqlite3")
        head = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'var' / 'crm.sqlite3'}")).get_current_head()
        assert crm.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        written = []
        while time.monotonic() < deadline + 30 and len(written) < 2:
            written = crm.execute("SELECT author, channel FROM interactions WHERE customer_id = ? "
                                  "ORDER BY id", ("rest:launcher_test",)).fetchall()
            time.sleep(0.5)
        assert written == [("customer", "rest"), ("bot", "rest")]
        crm.close()

        # The HTTP API is protected by the token.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{rasa_port}/status", timeout=10)
        assert refused.value.code == 401

        # A WhatsApp message from the simulator: acknowledged by the Rasa server, answered by
        # the inbox worker through the sandbox provider.
        with urllib.request.urlopen(f"http://127.0.0.1:{worker_port}/health", timeout=10) as health:
            assert json.loads(health.read())["channels"] == ["whatsapp", "instagram", "sms", "rcs", "webchat"]
        inbound = post_json(f"{simulator}sandbox/inbound", {"channel": "whatsapp", "address": "5511955550000",
                                                            "name": "Ana", "text": "hello"}, token)
        assert inbound["webhook_status"] == 200
        replies = []
        while time.monotonic() < deadline + 60 and not replies:
            sent = urllib.request.Request(f"{simulator}sandbox/sent?channel=whatsapp", headers=token)
            with urllib.request.urlopen(sent, timeout=10) as page:
                replies = [m for m in json.loads(page.read())["sent"] if m["to"] == "5511955550000"]
            time.sleep(0.5)
        assert replies, "the inbox worker never answered the WhatsApp message"
        # The same by RCS: the generated RBM agent, OAuth against the sandbox's key, an agent message back.
        inbound = post_json(f"{simulator}sandbox/inbound", {"channel": "rcs", "address": "+5511955550001",
                                                            "text": "hello"}, token)
        assert inbound["webhook_status"] == 200
        replies = []
        while time.monotonic() < deadline + 90 and not replies:
            sent = urllib.request.Request(f"{simulator}sandbox/sent?channel=rcs", headers=token)
            with urllib.request.urlopen(sent, timeout=10) as page:
                replies = [m for m in json.loads(page.read())["sent"] if m["to"] == "+5511955550001"]
            time.sleep(0.5)
        assert replies and replies[0]["body"]["contentMessage"], "the inbox worker never answered the RCS message"

        children = descendants(launcher.pid)
        assert len(children) >= 8  # redis, sandbox, action server, rasa server, inbox worker, crm timeline, follow-ups, console

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
        with pytest.raises(urllib.error.URLError):  # the sandbox provider is gone too
            urllib.request.urlopen(simulator, timeout=5)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.stdout.close()


@pytest.fixture
def no_channel_credentials(monkeypatch):
    for name in list(os.environ):
        if name.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(name)


def test_a_reachable_redis_url_is_used_instead_of_a_local_one(redis_server, monkeypatch, no_channel_credentials, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    assert env["REDIS_URL"] == redis_server.url
    assert [s.name for s in launcher.services] == ["sandbox provider", "action server", "rasa server",
                                                   "inbox worker", "crm timeline", "follow-ups", "agent console"]
    assert "THREADLINE_INBOX_WORKER" not in env  # retired: only the inbox worker answers


def test_a_sentinel_redis_url_is_checked_through_the_sentinels_and_passed_on(monkeypatch, no_channel_credentials, tmp_path):
    from tests.support.sentinel import SentinelSetup

    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    setup = SentinelSetup(replicas=1, sentinels=1)
    try:
        monkeypatch.setenv("REDIS_URL", setup.url)
        launcher = Launcher(Settings.from_env())
        env = launcher.plan()
        assert env["REDIS_URL"] == setup.url and "REDIS_HOST" not in env  # no single host to name
        assert "redis" not in [s.name for s in launcher.services]  # no project-local Redis
        monkeypatch.setenv("REDIS_URL", setup.url.replace("/threadline/", "/no-such-service/"))
        with pytest.raises(LaunchError, match="does not answer .*No master found for 'no-such-service'"):
            Launcher(Settings.from_env()).plan()
    finally:
        setup.stop()


def test_channels_with_credentials_need_no_sandbox_provider(redis_server, monkeypatch, no_channel_credentials, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for names in (*CHANNEL_VARS.values(), *OTHER_CHANNEL_VARS.values()):
        for name in names:
            monkeypatch.setenv(name, "real-credential")
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    assert env["THREADLINE_SANDBOX_CHANNELS"] == ""
    assert [s.name for s in launcher.services] == ["action server", "rasa server", "inbox worker", "crm timeline",
                                                   "follow-ups", "agent console"]


def test_an_imap_mailbox_gets_its_own_email_reader_and_the_rasa_server_reads_none(
        redis_server, monkeypatch, no_channel_credentials, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for name, value in (("EMAIL_ADDRESS", "help@shop.example"), ("EMAIL_IMAP_HOST", "imap.shop.example"),
                        ("EMAIL_SMTP_HOST", "smtp.shop.example")):
        monkeypatch.setenv(name, value)
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    reader = next(s for s in launcher.services if s.name == "email reader")
    assert reader.argv[1:] == ["-m", "connectors.email.reader_service", "--credentials", "credentials.yml"]
    assert env["THREADLINE_EMAIL_READER"] == "separate"
    monkeypatch.delenv("EMAIL_IMAP_HOST")  # Mailgun only: nothing to read, no reader
    monkeypatch.setenv("EMAIL_MAILGUN_SIGNING_KEY", "key")
    launcher = Launcher(Settings.from_env())
    assert "THREADLINE_EMAIL_READER" not in launcher.plan()
    assert "email reader" not in [s.name for s in launcher.services]


def test_the_banner_says_whether_email_is_on(monkeypatch, no_channel_credentials):
    assert email_state().startswith("disabled (EMAIL_ADDRESS, EMAIL_IMAP_HOST, EMAIL_SMTP_HOST unset")
    monkeypatch.setenv("EMAIL_ADDRESS", "help@shop.example")
    monkeypatch.setenv("EMAIL_IMAP_HOST", "imap.shop.example")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "smtp.shop.example")
    assert email_state() == "enabled for help@shop.example"


def test_an_unreachable_redis_url_stops_the_plan_before_any_local_redis(monkeypatch, tmp_path):
    # A local Redis instead would split inbox, locks and trackers over two stores.
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    closed = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2secret@127.0.0.1:{closed}/0")
    monkeypatch.setenv("THREADLINE_VAR_DIR", str(tmp_path))
    launcher = Launcher(Settings.from_env())
    with pytest.raises(LaunchError) as refused:
        launcher.plan()
    message = str(refused.value)
    assert message.startswith(f"REDIS_URL redis://:***@127.0.0.1:{closed}/0 does not answer (")
    assert "hunter2secret" not in message
    assert launcher.services == [] and not (tmp_path / "redis").exists()


def test_two_inbox_workers_get_their_own_health_port_and_consumer(redis_server, monkeypatch, no_channel_credentials,
                                                                  tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("THREADLINE_INBOX_WORKERS", "2")
    monkeypatch.setenv("THREADLINE_INBOX_WORKER_PORT", "6100")
    monkeypatch.delenv("THREADLINE_INBOX_CONSUMER", raising=False)
    launcher = Launcher(Settings.from_env())
    launcher.plan()
    first, second = [s for s in launcher.services if s.name.startswith("inbox worker")]
    assert (first.name, second.name) == ("inbox worker 1", "inbox worker 2")
    # The first keeps a single worker's consumer name, so its pending entries stay its own.
    assert first.own_env == {"THREADLINE_INBOX_WORKER_PORT": "6100"}
    assert second.own_env == {"THREADLINE_INBOX_WORKER_PORT": "6101",
                              "THREADLINE_INBOX_CONSUMER": f"{default_consumer_name()}#2"}


def test_inbox_worker_ports_that_run_into_another_service_stop_the_plan(redis_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("THREADLINE_INBOX_WORKER_PORT", "5047")
    monkeypatch.setenv("THREADLINE_INBOX_WORKERS", "4")
    monkeypatch.delenv("CONSOLE_PORT", raising=False)  # the console on its default, 5050
    with pytest.raises(LaunchError, match="health ports 5047-5050 .* include port 5050 of another service"):
        Launcher(Settings.from_env()).plan()


def test_the_follow_up_workers_port_in_the_inbox_workers_range_stops_the_plan(redis_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("THREADLINE_INBOX_WORKER_PORT", "6200")
    monkeypatch.setenv("THREADLINE_INBOX_WORKERS", "3")
    monkeypatch.setenv("FOLLOWUPS_PORT", "6202")
    with pytest.raises(LaunchError, match="health ports 6200-6202 .* include port 6202 of another service"):
        Launcher(Settings.from_env()).plan()


def test_the_follow_up_worker_on_another_services_port_stops_the_plan_before_anything_starts(
        redis_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("CONSOLE_PORT", "6210")
    monkeypatch.setenv("FOLLOWUPS_PORT", "6210")
    launcher = Launcher(Settings.from_env())
    with pytest.raises(LaunchError, match="FOLLOWUPS_PORT and CONSOLE_PORT are both port 6210"):
        launcher.plan()
    assert launcher.services == []


def test_the_email_reader_on_another_services_port_stops_the_plan_before_anything_starts(
        redis_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("EMAIL_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("CONSOLE_PORT", "6211")
    monkeypatch.setenv("EMAIL_READER_PORT", "6211")
    launcher = Launcher(Settings.from_env())
    with pytest.raises(LaunchError, match="EMAIL_READER_PORT and CONSOLE_PORT are both port 6211"):
        launcher.plan()
    assert launcher.services == []


def test_the_follow_up_worker_gets_its_port_and_is_checked_there(redis_server, monkeypatch, no_channel_credentials,
                                                                 tmp_path):
    import http.server
    import threading

    from tests.support.redis_server import free_port

    port = free_port()
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("FOLLOWUPS_PORT", str(port))
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    assert env["FOLLOWUPS_PORT"] == str(port)  # the worker listens where the launcher looks
    [followups] = [s for s in launcher.services if s.name == "follow-ups"]
    assert not followups.is_healthy()

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert followups.is_healthy()
    finally:
        server.shutdown()
        server.server_close()


def test_no_inbox_workers_is_refused(monkeypatch):
    monkeypatch.setenv("THREADLINE_INBOX_WORKERS", "0")
    with pytest.raises(SystemExit, match="THREADLINE_INBOX_WORKERS must be at least 1, got 0"):
        Settings.from_env()


def test_restart_backoff_doubles_to_30_s_and_starts_over_after_a_healthy_minute():
    backoff = Backoff()
    assert [backoff.delay_after(ran_for_s=2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay_after(ran_for_s=61) == 1
    assert backoff.delay_after(ran_for_s=0.5) == 2


def test_exits_are_described_by_code_or_signal():
    assert describe_exit(3) == "exit 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def test_redis_env_splits_the_url_for_endpoints_yml():
    env = redis_env("redis://:s3cret@cache.internal:6400/2")
    assert env == {
        "REDIS_URL": "redis://:s3cret@cache.internal:6400/2",
        "REDIS_HOST": "cache.internal",
        "REDIS_PORT": "6400",
        "REDIS_PASSWORD": "s3cret",
        "REDIS_DB": "2",
    }
