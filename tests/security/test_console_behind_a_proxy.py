"""The agent console behind a reverse proxy, attacked from the network.

The console runs in the test's loop (aiohttp's test server, real Redis) and is reached from
127.0.0.1, which plays the reverse proxy when it is listed in CONSOLE_TRUSTED_PROXIES and an
attacker connecting directly when it is not.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import List

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from tests.console.conftest import PASSWORDS, agents, csrf_in, db, escalate  # noqa: F401  (fixtures)
from tests.support.redis_server import free_port
from threadline.console.agents import SetAgentActive
from threadline.console.app import console_app
from connectors.webhook.records import ChannelRecords
from threadline.console.proxies import TrustedProxies, parse_networks
from threadline.console.sessions import KEY, SessionStore
from threadline.console.throttle import MAX_FAILURES
from threadline.handoff.rasa_api import RasaApi

PROXY = "127.0.0.1/32"  # where the test client connects from
GUESSER, COLLEAGUE = "203.0.113.7", "198.51.100.9"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def open_console(db, redis_url, agents):
    """Starts consoles with the given options; closes them after the test."""
    opened: List[TestClient] = []
    clients: List[Redis] = []

    async def start(*, trusted: str = "", session_check_s: float = 30.0, sessions=None) -> TestClient:
        redis = Redis.from_url(redis_url)
        clients.append(redis)
        app = console_app(db, redis, RasaApi(f"http://127.0.0.1:{free_port()}", "unused"), ChannelRecords(redis).opted_out, poll_s=0.1,
                          session_check_s=session_check_s, proxies=TrustedProxies(parse_networks(trusted)),
                          sessions=sessions)
        client = TestClient(TestServer(app))
        await client.start_server()
        opened.append(client)
        return client

    yield start
    for client in opened:
        await client.close()
    for redis in clients:
        await redis.close()


async def log_in(client: TestClient, name: str, password: str = "", headers: dict = None):
    page = await client.get("/login", headers=headers)
    form = {"csrf_token": csrf_in(await page.text()), "name": name, "password": password or PASSWORDS[name],
            "next": "/"}
    return await client.post("/login", data=form, headers=headers, allow_redirects=False)


def console_lines(caplog, text: str) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "threadline.console" and text in r.getMessage()]


def assert_no_secret_in_logs(caplog) -> None:
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert not any(password in logged for password in PASSWORDS.values())
    assert "ana" not in logged.split() and GUESSER not in logged and COLLEAGUE not in logged


async def test_behind_a_trusted_proxy_a_guesser_is_blocked_without_locking_out_the_agent_elsewhere(
        open_console, caplog):
    caplog.set_level(logging.INFO)
    console = await open_console(trusted=PROXY)
    guesser = {"X-Forwarded-For": GUESSER}
    for _ in range(MAX_FAILURES):
        assert (await log_in(console, "ana", "a-wrong-guess", guesser)).status == 401
    console.session.cookie_jar.clear()
    blocked = await log_in(console, "ana", headers=guesser)
    assert blocked.status == 429
    # A forged entry to the left of the proxy's own does not make the guesser someone new.
    console.session.cookie_jar.clear()
    assert (await log_in(console, "ana", headers={"X-Forwarded-For": f"10.9.9.9, {GUESSER}"})).status == 429
    # Ana herself, behind the same proxy from her own address, still logs in.
    console.session.cookie_jar.clear()
    assert (await log_in(console, "ana", headers={"X-Forwarded-For": COLLEAGUE})).status == 303
    assert len(console_lines(caplog, "login refused: too many wrong passwords")) == 2
    assert_no_secret_in_logs(caplog)


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(open_console, caplog):
    console = await open_console(trusted="")  # 127.0.0.1 is not a proxy here: an attacker
    for n in range(MAX_FAILURES):  # a new "client address" on every guess
        spoofed = {"X-Forwarded-For": f"192.0.2.{n + 1}", "X-Forwarded-Proto": "https"}
        assert (await log_in(console, "ana", "a-wrong-guess", spoofed)).status == 401
    caplog.clear()
    blocked = await log_in(console, "ana", headers={"X-Forwarded-For": "192.0.2.200"})
    assert blocked.status == 429  # every guess counted against the real peer
    assert console_lines(caplog, "not in CONSOLE_TRUSTED_PROXIES; headers ignored") == [
        "console: login with X-Forwarded-* headers from a peer not in CONSOLE_TRUSTED_PROXIES; headers ignored"]
    # Nor does a claimed https make the cookie Secure on a plain connection from anyone.
    console.session.cookie_jar.clear()
    bruno = await log_in(console, "bruno", headers={"X-Forwarded-Proto": "https"})
    assert bruno.status == 303 and not bruno.cookies["tl_console"]["secure"]
    assert_no_secret_in_logs(caplog)


async def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(open_console):
    console = await open_console(trusted=PROXY)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": COLLEAGUE}
    page = await console.get("/login", headers=https)
    assert page.cookies["tl_console_login"]["secure"]
    # (The test client, on plain http, rightly never sends a Secure cookie back: take the
    # login form's cookie from a plain page and post the login "through TLS".)
    console.session.cookie_jar.clear()
    form_page = await console.get("/login")
    form = {"csrf_token": csrf_in(await form_page.text()), "name": "ana", "password": PASSWORDS["ana"], "next": "/"}
    response = await console.post("/login", data=form, headers=https, allow_redirects=False)
    assert response.status == 303
    cookie = response.cookies["tl_console"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    console.session.cookie_jar.clear()
    plain = await log_in(console, "bruno", headers={"X-Forwarded-Proto": "http"})
    assert plain.status == 303 and not plain.cookies["tl_console"]["secure"]


def test_a_wrong_trusted_proxy_entry_stops_the_start_naming_the_variable():
    with pytest.raises(SystemExit, match="CONSOLE_TRUSTED_PROXIES lists 'proxy.internal'"):
        parse_networks("10.0.0.1, proxy.internal")


async def test_a_session_in_constant_use_still_ends_at_its_absolute_lifetime(open_console, redis_url):
    clock = Clock()
    redis = Redis.from_url(redis_url)
    try:
        console = await open_console(sessions=SessionStore(redis, max_age_s=4 * 3600, clock=clock))
        assert (await log_in(console, "ana")).status == 303
        session_id = console.session.cookie_jar.filter_cookies(console.make_url("/"))["tl_console"].value
        for _ in range(15):  # a request every 15 minutes keeps the idle lifetime from ever running out
            clock.now += 15 * 60
            assert (await console.get("/", allow_redirects=False)).status == 200
        clock.now += 15 * 60  # four hours after the login
        response = await console.get("/", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/login")
        assert await redis.exists(KEY + session_id) == 0  # gone on the server, not only refused
        # The idle lifetime in Redis never outlasts the absolute one either.
        assert (await log_in(console, "bruno")).status == 303
        fresh = console.session.cookie_jar.filter_cookies(console.make_url("/"))["tl_console"].value
        clock.now += 4 * 3600 - 60
        assert (await console.get("/", allow_redirects=False)).status == 200
        assert 0 < await redis.ttl(KEY + fresh) <= 61
    finally:
        await redis.close()


async def _open_stream(browsers: List[aiohttp.ClientSession], base: str, cookie_jar) -> aiohttp.ClientResponse:
    browser = aiohttp.ClientSession(cookie_jar=cookie_jar)
    browsers.append(browser)
    response = await browser.get(f"{base}events/queue")
    assert response.status == 200 and response.content_type == "text/event-stream"
    assert (await response.content.readuntil(b"\n\n")).startswith(b"retry:")
    return response


async def _logged_in_jar(console: TestClient, name: str) -> aiohttp.CookieJar:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        base = str(console.make_url("/"))
        page = await browser.get(f"{base}login")
        form = {"csrf_token": csrf_in(await page.text()), "name": name, "password": PASSWORDS[name], "next": "/"}
        assert (await browser.post(f"{base}login", data=form, allow_redirects=False)).status == 303
    return jar


async def _ana_and_bruno_watch_the_queue(console: TestClient, browsers: List[aiohttp.ClientSession]):
    """Both agents logged in, each with the queue's live stream open and its first update read."""
    base = str(console.make_url("/"))
    streams = [await _open_stream(browsers, base, await _logged_in_jar(console, name)) for name in ("ana", "bruno")]
    for stream in streams:
        assert (await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)).startswith(b"event: queue")
    return streams


async def test_a_disabled_agents_open_live_stream_ends_within_the_recheck_interval(open_console, db, caplog):
    caplog.set_level(logging.INFO)
    console = await open_console(session_check_s=0.5)
    browsers: List[aiohttp.ClientSession] = []
    try:
        ana, bruno = await _ana_and_bruno_watch_the_queue(console, browsers)
        await asyncio.to_thread(SetAgentActive(db), "ana", False)
        disabled_at = time.monotonic()
        rest = await asyncio.wait_for(ana.content.read(), timeout=5)  # returns at the end of the stream
        ended_after = time.monotonic() - disabled_at
        assert ana.content.at_eof() and ended_after < 0.5 + 1.0, ended_after
        assert b"event: queue" not in rest  # nothing more was sent to the disabled agent
        # Bruno's stream stayed open, and is checked the same way.
        assert not bruno.content.at_eof()
        await asyncio.to_thread(SetAgentActive(db), "bruno", False)
        await asyncio.wait_for(bruno.content.read(), timeout=5)
        assert len(console_lines(caplog, "live stream closed: its session ended or its agent was disabled")) == 2
    finally:
        for browser in browsers:
            await browser.close()


async def test_a_disabled_agent_is_sent_no_update_even_before_the_recheck(open_console, db, redis_url, caplog):
    caplog.set_level(logging.INFO)
    console = await open_console(session_check_s=30)  # the periodic check never comes in this test
    browsers: List[aiohttp.ClientSession] = []
    try:
        ana, bruno = await _ana_and_bruno_watch_the_queue(console, browsers)
        await asyncio.to_thread(SetAgentActive(db), "ana", False)
        await escalate(db, redis_url, "whatsapp", "5511955550001", name="Carla")  # the queue changes
        update = await asyncio.wait_for(bruno.content.readuntil(b"\n\n"), 5)
        assert update.startswith(b"event: queue") and b"Carla" in update
        rest = await asyncio.wait_for(ana.content.read(), timeout=5)
        assert ana.content.at_eof() and b"Carla" not in rest and b"event: queue" not in rest
        assert len(console_lines(caplog, "live stream closed: its session ended or its agent was disabled")) == 1
    finally:
        for browser in browsers:
            await browser.close()
