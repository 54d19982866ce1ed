"""No accidental sandbox (issue #12): a channel is sandboxed only when none of its variables is
set, never over real credentials and never in production; the sandbox provider's page and API
need the page token `make run` prints and refuse foreign origins; the launcher's banner, the
channels' health answers and the agent console say when a channel is sandboxed."""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator, Dict

import aiohttp
import pytest
from redis.asyncio import Redis
from rasa.core.channels.channel import register
from sanic import Sanic

from connectors.instagram import InstagramInput
from connectors.sms import SmsInput
from connectors.webhook.config import ChannelNotConfigured
from connectors.whatsapp import WhatsAppInput
from threadline.launcher import Launcher
from threadline.sandbox.access import HEADER, cookie_name
from threadline.sandbox.config import ALL_CHANNEL_VARS, sandbox_env
from threadline.sandbox.modes import CHANNEL_VARS
from threadline.settings import Settings
from tests.support.redis_server import free_port
from tests.support.sandbox import page_headers, serve_sandbox
from tests.support.waiting import wait_for

PROJECT = Path(__file__).resolve().parents[2]
CONNECTORS = {"whatsapp": WhatsAppInput, "instagram": InstagramInput, "sms": SmsInput}
# Values an operator would have from the real providers (none of the sandbox's forms).
REAL = {
    "WHATSAPP_APP_SECRET": "wa-app-secret-value", "WHATSAPP_VERIFY_TOKEN": "wa-verify-value",
    "WHATSAPP_ACCESS_TOKEN": "EAAGreal-wa-access-token", "WHATSAPP_PHONE_NUMBER_ID": "109876543210",
    "INSTAGRAM_APP_SECRET": "ig-app-secret-value", "INSTAGRAM_VERIFY_TOKEN": "ig-verify-value",
    "INSTAGRAM_ACCESS_TOKEN": "IGQreal-ig-access-token",
    "TWILIO_ACCOUNT_SID": "AC" + "5" * 32, "TWILIO_AUTH_TOKEN": "twilio-auth-token-value",
    "TWILIO_FROM_NUMBER": "+5511955550000", "TWILIO_WEBHOOK_URL": "https://shop.example/webhooks/sms/webhook",
    "RBM_AGENT_ID": "shop-agent@rbm.goog", "RBM_CLIENT_TOKEN": "rbm-client-token-value",
    "RBM_SERVICE_ACCOUNT_FILE": "/etc/threadline/rbm-service-account.json",
}
FORCE_SANDBOX = {"THREADLINE_SANDBOX_CHANNELS": "whatsapp,instagram,sms", "SANDBOX": "1"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Only what each test sets: the developer's own channel settings must not leak in."""
    for name in (*ALL_CHANNEL_VARS, "SANDBOX", "THREADLINE_ENV", "THREADLINE_SANDBOX_CHANNELS",
                 "THREADLINE_SANDBOX_TOKEN", "THREADLINE_SANDBOX_PORT"):
        monkeypatch.delenv(name, raising=False)


def logged(caplog, logger: str) -> list:
    """The messages `logger` wrote (Sanic's own start-up lines are not ours)."""
    return [record.getMessage() for record in caplog.records if record.name == logger]


def set_env(monkeypatch, values: Dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def clean_process_env(**extra: str) -> Dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k not in ALL_CHANNEL_VARS and not k.startswith(("SANDBOX", "THREADLINE_", "REDIS_URL", "CRM_"))}
    return {**keep, "PYTHONPATH": str(PROJECT), **extra}


@contextlib.asynccontextmanager
async def served(channel, on_message=None) -> AsyncIterator[str]:
    """The channel on a real Sanic server, registered as Rasa registers it; yields its base URL."""
    async def ignore(_message) -> None:
        return None

    app = Sanic(f"sandbox_test_{free_port()}")
    register([channel], app, route="/webhooks/")
    app.ctx.agent = None
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/{channel.name()}"
    finally:
        await server.before_stop()
        await server.close()


async def health_of(channel) -> dict:
    """GET /webhooks/<channel>/, the channel's health answer."""
    async with served(channel) as url:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/") as answer:
                return await answer.json()


@pytest.fixture(autouse=True)
def channel_backends(monkeypatch, redis_url, tmp_path):
    """What a started channel opens: a private Redis database and a throwaway CRM."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # several Sanic apps in one test process
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")


# --- a partly configured channel refuses to start, naming each missing variable ----------------
@pytest.mark.parametrize("channel", list(CHANNEL_VARS))
def test_connector_with_one_variable_misspelt_refuses_naming_it(channel, monkeypatch):
    names = CHANNEL_VARS[channel]
    misspelt = names[-1]
    set_env(monkeypatch, {name: REAL[name] for name in names if name != misspelt})
    monkeypatch.setenv(misspelt[:-1], REAL[misspelt])  # e.g. WHATSAPP_PHONE_NUMBER_I
    with pytest.raises(ChannelNotConfigured) as refused:
        CONNECTORS[channel].from_credentials(None)
    message = str(refused.value)
    assert f"{misspelt} not set" in message and "Refusing to start" in message
    assert not any(value in message for value in REAL.values())  # names, never values


@pytest.mark.parametrize("channel", list(CHANNEL_VARS))
def test_connector_with_only_its_access_token_refuses_naming_every_other_variable(channel, monkeypatch):
    names = CHANNEL_VARS[channel]
    given = names[2] if channel != "sms" else names[0]
    monkeypatch.setenv(given, REAL[given])
    with pytest.raises(ChannelNotConfigured) as refused:
        CONNECTORS[channel].from_credentials(None)
    missing = str(refused.value).split(" not set")[0].split(": ", 1)[1].split(", ")
    assert missing == [name for name in names if name != given]


def test_credentials_yml_values_count_like_environment_variables(monkeypatch):
    # `rasa run` expands credentials.yml; a value there and none in the environment is "set".
    credentials = {"app_secret": "wa-app-secret-value", "verify_token": "v", "access_token": "EAAGx",
                   "phone_number_id": ""}
    with pytest.raises(ChannelNotConfigured, match="WHATSAPP_PHONE_NUMBER_ID not set"):
        WhatsAppInput.from_credentials(credentials)


@pytest.mark.parametrize("channel", list(CHANNEL_VARS))
def test_launcher_with_a_partly_configured_channel_exits_naming_the_missing_variables(channel, tmp_path):
    names = CHANNEL_VARS[channel]
    env = clean_process_env(THREADLINE_VAR_DIR=str(tmp_path), CRM_DATABASE_URL=f"sqlite:///{tmp_path / 'crm.db'}",
                            THREADLINE_REDIS_PORT=str(free_port()), **{names[0]: REAL[names[0]]})
    run = subprocess.run([sys.executable, "-m", "threadline.launcher"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    refusal = [line for line in run.stderr.splitlines() if line.startswith("threadline: ")]
    assert len(refusal) == 1 and f"{channel} is partly configured: {', '.join(names[1:])} not set" in refusal[0]
    assert REAL[names[0]] not in run.stderr + run.stdout
    assert "starting" not in run.stdout  # refused before anything was started
    assert not (tmp_path / "redis").exists()


# --- THREADLINE_SANDBOX_CHANNELS and SANDBOX=1 never override real credentials ------------------
@pytest.mark.parametrize("channel", list(CHANNEL_VARS))
async def test_sandbox_flags_do_not_sandbox_a_channel_with_real_credentials(channel, monkeypatch):
    set_env(monkeypatch, {**REAL, **FORCE_SANDBOX})
    connector = CONNECTORS[channel].from_credentials(None)
    assert connector.enabled() and not connector.sandbox
    assert (await health_of(connector))["sandbox"] is False
    secret = {"whatsapp": "app_secret", "instagram": "app_secret", "sms": "auth_token"}[channel]
    assert getattr(connector, secret) == REAL[CHANNEL_VARS[channel][0 if channel != "sms" else 1]]


def test_make_run_passes_real_credentials_through_whatever_the_sandbox_flags_say():
    out = sandbox_env({**REAL, **FORCE_SANDBOX}, free_port(), 5005)
    assert out["THREADLINE_SANDBOX_CHANNELS"] == ""
    assert all(out[name] == value for name, value in REAL.items())
    assert out["WHATSAPP_API_URL"] == out["INSTAGRAM_API_URL"] == out["TWILIO_API_URL"] == ""  # real defaults


async def test_a_channel_without_variables_is_sandboxed_and_says_so(monkeypatch, caplog):
    set_env(monkeypatch, {name: REAL[name] for name in (*CHANNEL_VARS["instagram"], *CHANNEL_VARS["sms"])})
    with caplog.at_level(logging.WARNING, logger="connectors.webhook.config"):
        whatsapp = WhatsAppInput.from_credentials(None)
    assert whatsapp.sandbox and (await health_of(whatsapp))["sandbox"] is True
    assert logged(caplog, "connectors.webhook.config") == [
        "whatsapp: sandbox mode (no real provider can reach this channel; replies go to the sandbox provider "
        "or nowhere)"]
    assert not InstagramInput.from_credentials(None).sandbox and not SmsInput.from_credentials(None).sandbox


async def test_what_make_run_generates_is_recognised_as_the_sandbox(monkeypatch):
    set_env(monkeypatch, sandbox_env({}, free_port(), 5005))
    for connector in (WhatsAppInput, InstagramInput, SmsInput):
        channel = connector.from_credentials(None)
        assert channel.sandbox and (await health_of(channel))["sandbox"] is True


# --- THREADLINE_ENV=production: no sandbox, ever ------------------------------------------------
async def test_production_without_variables_disables_the_channel_instead(monkeypatch, caplog):
    monkeypatch.setenv("THREADLINE_ENV", "production")
    with caplog.at_level(logging.WARNING, logger="connectors.webhook.config"):
        channels = [connector.from_credentials(None) for connector in (WhatsAppInput, InstagramInput, SmsInput)]
    assert [c.enabled() or c.sandbox for c in channels] == [False, False, False]
    disabled = logged(caplog, "connectors.webhook.config")
    assert len(disabled) == 3 and all(": disabled (none of " in line for line in disabled)
    health = await health_of(channels[0])
    assert health == {"status": "disabled", "sandbox": False}


async def test_a_disabled_channel_refuses_webhooks_with_one_log_line(monkeypatch, caplog):
    monkeypatch.setenv("THREADLINE_ENV", "production")
    whatsapp = WhatsAppInput.from_credentials(None)
    caplog.clear()
    async with served(whatsapp) as url:
        with caplog.at_level(logging.INFO, logger="connectors.webhook.channel"):
            async with aiohttp.ClientSession() as session:
                async with session.post(url + "/webhook", data=b'{"object": "x", "text": "hi"}',
                                        headers={"Content-Type": "application/json"}) as answer:
                    assert answer.status == 404
                async with session.get(url + "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "",
                                                                   "hub.challenge": "1"}) as handshake:
                    assert handshake.status == 403
    assert [line.split(" (")[0] for line in logged(caplog, "connectors.webhook.channel")] == [
        "whatsapp webhook rejected with 404: channel disabled"]
    assert "hi" not in caplog.text


def test_production_refuses_sandbox_credentials_in_the_connector(monkeypatch):
    set_env(monkeypatch, {**sandbox_env({}, free_port(), 5005), "THREADLINE_ENV": "production"})
    for connector, channel in ((WhatsAppInput, "whatsapp"), (InstagramInput, "instagram"), (SmsInput, "sms")):
        with pytest.raises(ChannelNotConfigured, match=f"{channel} has sandbox credentials and THREADLINE_ENV="
                                                       "production refuses any sandbox"):
            connector.from_credentials(None)


def test_production_launcher_starts_no_sandbox_provider(redis_server, monkeypatch, tmp_path):
    set_env(monkeypatch, {"THREADLINE_ENV": "production", "REDIS_URL": redis_server.url,
                          "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}"})
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    assert "sandbox provider" not in [service.name for service in launcher.services]
    assert env["THREADLINE_SANDBOX_CHANNELS"] == "" and env["WHATSAPP_API_URL"] == ""
    assert launcher.channel_modes == {"whatsapp": "disabled", "instagram": "disabled", "sms": "disabled"}


def test_production_refuses_to_start_the_sandbox_provider_itself():
    env = clean_process_env(THREADLINE_ENV="production", THREADLINE_SANDBOX_PORT=str(free_port()))
    run = subprocess.run([sys.executable, "-m", "threadline.sandbox"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == (
        "threadline: THREADLINE_ENV=production refuses to start the sandbox provider")


# --- the sandbox provider's page and API need the page token, from its own origin only ----------
@pytest.fixture
async def provider():
    env = sandbox_env({}, free_port(), free_port())
    async with serve_sandbox(env, int(env["THREADLINE_SANDBOX_PORT"]), receipts=False) as sandbox:
        yield sandbox, env


def base_url(env) -> str:
    return f"http://127.0.0.1:{env['THREADLINE_SANDBOX_PORT']}"


GUARDED = [("GET", "/"), ("GET", "/sandbox/sent"), ("GET", "/sandbox/conversation?channel=sms&address=%2B1"),
           ("GET", "/sandbox/reads"), ("GET", "/sandbox/config"), ("POST", "/sandbox/inbound"),
           ("POST", "/sandbox/faults"), ("DELETE", "/sandbox/sent")]


@pytest.mark.parametrize("method,path", GUARDED)
@pytest.mark.parametrize("token", ["", "wrong-token"])
async def test_sandbox_page_and_api_refuse_without_the_page_token(method, path, token, provider, caplog):
    sandbox, env = provider
    headers = {HEADER: token} if token else {}
    with caplog.at_level(logging.WARNING, logger="threadline.sandbox"):
        async with aiohttp.ClientSession() as session:
            async with session.request(method, base_url(env) + path, headers=headers,
                                       json={"channel": "sms", "address": "+5511987654321", "text": "my code?"}) as answer:
                assert answer.status == 401
    reason = "no page token" if not token else "wrong page token"
    assert logged(caplog, "threadline.sandbox") == [f"sandbox: refused {method} {path.split('?')[0]}: {reason}"]
    assert env["THREADLINE_SANDBOX_TOKEN"] not in caplog.text and "my code?" not in caplog.text
    assert sandbox.conversations == {} and sandbox.faults == {}  # nothing was done


async def test_sandbox_inbound_from_a_foreign_origin_is_refused_even_with_the_token(provider, caplog):
    sandbox, env = provider
    headers = {**page_headers(env), "Origin": "https://attacker.example"}
    with caplog.at_level(logging.WARNING, logger="threadline.sandbox"):
        async with aiohttp.ClientSession() as session:
            async with session.post(base_url(env) + "/sandbox/inbound", headers=headers,
                                    json={"channel": "sms", "address": "+5511987654321", "text": "hello"}) as answer:
                assert answer.status == 403
            async with session.get(base_url(env) + "/sandbox/sent", headers=headers) as answer:
                assert answer.status == 403
    assert logged(caplog, "threadline.sandbox") == [
        "sandbox: refused POST /sandbox/inbound: request from a foreign origin",
        "sandbox: refused GET /sandbox/sent: request from a foreign origin"]
    assert sandbox.conversations == {}


@pytest.mark.parametrize("origin", [None, "own"])
async def test_sandbox_accepts_its_own_origin_or_none_with_the_token(origin, provider):
    sandbox, env = provider
    headers = page_headers(env)
    if origin:
        headers["Origin"] = base_url(env)
    async with aiohttp.ClientSession() as session:
        # No Rasa server behind this sandbox: the webhook is unreachable (0), but the message was taken.
        async with session.post(base_url(env) + "/sandbox/inbound", headers=headers,
                                json={"channel": "sms", "address": "+5511987654321", "text": "hello"}) as answer:
            assert answer.status == 200 and (await answer.json())["webhook_status"] == 0
    assert [m["text"] for m in sandbox.conversations[("sms", "+5511987654321")]] == ["hello"]


async def test_the_printed_url_sets_a_cookie_the_page_then_uses(provider):
    _, env = provider
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, as a browser keeps them
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{base_url(env)}/?token={env['THREADLINE_SANDBOX_TOKEN']}",
                               allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/"
            cookie = answer.cookies[cookie_name_for(env)]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with session.get(base_url(env) + "/") as page:
            assert page.status == 200 and "customer simulator" in await page.text()
        async with session.get(base_url(env) + "/sandbox/config") as config:  # the page's own fetch
            assert (await config.json())["channels"] == ["whatsapp", "instagram", "sms", "rcs"]


def cookie_name_for(env) -> str:
    from threadline.sandbox.config import SandboxConfig
    return cookie_name(SandboxConfig.from_env(env))


async def test_fake_provider_apis_take_the_generated_credentials_not_the_page_token(provider):
    sandbox, env = provider
    url = f"{base_url(env)}/graph/v23.0/{env['WHATSAPP_PHONE_NUMBER_ID']}/messages"
    message = {"messaging_product": "whatsapp", "to": "5511987654321", "type": "text", "text": {"body": "hi"}}
    async with aiohttp.ClientSession() as session:
        for wrong in (page_headers(env), {"Authorization": f"Bearer {env['THREADLINE_SANDBOX_TOKEN']}"},
                      {"Authorization": "Bearer "}):
            async with session.post(url, json=message, headers=wrong) as answer:
                assert answer.status == 401
        auth = aiohttp.BasicAuth(env["TWILIO_ACCOUNT_SID"], "not-the-token")
        async with session.post(f"{base_url(env)}/twilio/2010-04-01/Accounts/{env['TWILIO_ACCOUNT_SID']}/Messages.json",
                                data={"To": "+5511987654321", "Body": "hi"}, auth=auth) as answer:
            assert answer.status == 401
        assert sandbox.sent == []
        async with session.post(url, json=message, headers={"Authorization": f"Bearer {env['WHATSAPP_ACCESS_TOKEN']}"}) as answer:
            assert answer.status == 200
    assert [s["to"] for s in sandbox.sent] == ["5511987654321"]


# --- the banner, the health answer and the console say "sandbox" --------------------------------
def test_launcher_banner_names_the_sandboxed_channels_and_the_token_url(redis_server, monkeypatch, tmp_path, capsys):
    set_env(monkeypatch, {**{name: REAL[name] for name in CHANNEL_VARS["sms"]}, "REDIS_URL": redis_server.url,
                          "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}",
                          "THREADLINE_SANDBOX_PORT": "5999"})
    launcher = Launcher(Settings.from_env())
    env = launcher.plan()
    launcher.print_urls()
    banner = capsys.readouterr().out
    assert f"  Simulator     http://127.0.0.1:5999/?token={env['THREADLINE_SANDBOX_TOKEN']}  " \
           f"(sandbox for whatsapp,instagram,rcs)" in banner
    assert "  SANDBOX       whatsapp, instagram, rcs: replies and identity codes go to the local sandbox provider" in banner
    assert "whatsapp sandbox, instagram sandbox, sms live" in banner


async def test_the_console_shows_a_sandbox_banner_only_when_a_channel_is_sandboxed(redis_url, monkeypatch, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from threadline.console.app import console_app

    from connectors.webhook.records import ChannelRecords
    from threadline.crm import Database
    from threadline.handoff.rasa_api import RasaApi

    async def login_page() -> str:
        db, redis = Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}"), Redis.from_url(redis_url)
        client = TestClient(TestServer(console_app(db, redis, RasaApi(f"http://127.0.0.1:{free_port()}", "unused"), ChannelRecords(redis).opted_out)))
        await client.start_server()
        try:
            return await (await client.get("/login")).text()
        finally:
            await client.close()
            await redis.close()
            db.dispose()

    set_env(monkeypatch, sandbox_env({name: REAL[name] for name in CHANNEL_VARS["instagram"]}, free_port(), 5005))
    page = await login_page()
    assert 'class="sandbox-banner"' in page and "Sandbox: WhatsApp, SMS" in page and "Instagram" not in page
    set_env(monkeypatch, REAL)
    assert "sandbox-banner" not in await login_page()


def test_rasa_run_without_the_launcher_refuses_a_partly_configured_channel(redis_server, tmp_path):
    """`python -m threadline.rasa_server run` (what `rasa run` is here) with credentials.yml."""
    redis_port = redis_server.url.rsplit(":", 1)[1].split("/")[0]
    channel_vars = {**{name: "" for name in ALL_CHANNEL_VARS}, "WHATSAPP_ACCESS_TOKEN": REAL["WHATSAPP_ACCESS_TOKEN"]}
    env = clean_process_env(**channel_vars, REDIS_URL=redis_server.url, REDIS_HOST="127.0.0.1", REDIS_PORT=redis_port, REDIS_DB="0",
                            ACTION_PORT=str(free_port()), RASA_TELEMETRY_ENABLED="false",
                            CRM_DATABASE_URL=f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    run = subprocess.run([sys.executable, "-m", "threadline.rasa_server", "run", "--port", str(free_port()),
                          "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                          "--model", "models/threadline.tar.gz"], cwd=PROJECT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert ("ChannelNotConfigured: whatsapp is partly configured: WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, "
            "WHATSAPP_PHONE_NUMBER_ID not set.") in output
    assert REAL["WHATSAPP_ACCESS_TOKEN"] not in output


# --- in a real browser: the printed URL works, a page on another local port cannot drive it -----
CHROMIUM = "/usr/bin/chromium"
# A "simple" cross-origin request (text/plain, no preflight): the browser sends it, cookie and
# all (127.0.0.1 on another port is the same site), and only the Origin check stops it.
FOREIGN_PAGE = """<!doctype html><script>
fetch("%s/sandbox/inbound", {method: "POST", credentials: "include", headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({channel: "sms", address: "+5511987654321", text: "forged"})}).catch(() => {});
</script>"""


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        subprocess.run(["bash", str(PROJECT / "scripts" / "install-browser.sh")], check=True, capture_output=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


async def test_in_a_browser_the_printed_url_opens_the_simulator_and_a_foreign_page_cannot_use_it(
        chromium, provider, caplog):
    from aiohttp import web

    sandbox, env = provider
    page = await chromium.new_page()
    page.set_default_timeout(30_000)
    await page.goto(f"{base_url(env)}/?token={env['THREADLINE_SANDBOX_TOKEN']}")
    assert page.url == base_url(env) + "/"  # the token left the address bar
    await page.wait_for_selector("#channel option[value=sms]", state="attached")  # the page's own fetch carried the cookie
    await page.select_option("#channel", "sms")
    await page.fill("#text", "hello from the page")
    await page.click("#say button")
    await wait_for(lambda: sandbox.conversations.get(("sms", "+5511987654321")))
    assert [m["text"] for m in sandbox.conversations[("sms", "+5511987654321")]] == ["hello from the page"]

    foreign = web.Application()
    foreign.router.add_get("/", lambda _: web.Response(text=FOREIGN_PAGE % base_url(env), content_type="text/html"))
    runner = web.AppRunner(foreign)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    caplog.clear()  # (the page's own message logged that no Rasa server is behind this sandbox)
    try:
        with caplog.at_level(logging.WARNING, logger="threadline.sandbox"):
            await page.goto(f"http://127.0.0.1:{port}/")  # same browser: it holds the sandbox cookie
            await wait_for(lambda: logged(caplog, "threadline.sandbox"))
    finally:
        await runner.cleanup()
    assert logged(caplog, "threadline.sandbox") == ["sandbox: refused POST /sandbox/inbound: request from a foreign origin"]
    assert [m["text"] for m in sandbox.conversations[("sms", "+5511987654321")]] == ["hello from the page"]
    await page.goto(base_url(env) + "/sandbox/conversation?channel=sms&address=%2B5511987654321")
    assert "hello from the page" in await page.content()  # and the real page's session still works
