"""Closed internal doors, tried as an attacker on the network would.

The action server and the Rasa server are started exactly as `make run` starts them (the
launcher's plan: same argv, same environment); what they listen on is read from /proc, and
the machine's non-loopback address is tried as a client on another host would. The REST
channel is attacked with a customer's id as `sender`. The project-local Redis is tried
without its password.
"""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, List, Set, Tuple
from urllib.parse import quote

import pytest
import redis

from tests.support.redis_server import free_port
from threadline.launcher import Launcher, Service, local_redis
from threadline.settings import Settings
from threadline.training import model_path

FOREIGN_PREFIXES = ("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "RBM_", "EMAIL_", "SANDBOX", "THREADLINE_SANDBOX_", "SANIC_")
FOREIGN_NAMES = ("REDIS_URL", "RASA_AUTH_TOKEN", "CRM_DATABASE_URL", "RASA_HOST", "ACTION_HOST")
VICTIM = "cus_0123456789abcdef0123"
VICTIM_TEXT = "my order 4711 to Rua das Flores 12 is late"


def _own_environment(monkeypatch, tmp_path: Path, **extra: str) -> None:
    for name in list(os.environ):
        if name in FOREIGN_NAMES or name.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("THREADLINE_VAR_DIR", str(tmp_path / "var"))
    for name in ("RASA_PORT", "ACTION_PORT", "THREADLINE_SANDBOX_PORT", "THREADLINE_REDIS_PORT"):
        monkeypatch.setenv(name, str(free_port()))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _hex_address(raw: str) -> Tuple[str, int]:
    """/proc/net/tcp{,6} `local_address` (little-endian words) → (ip, port)."""
    host, port = raw.split(":")
    packed = b"".join(bytes.fromhex(host[i:i + 8])[::-1] for i in range(0, len(host), 8))
    return str(ipaddress.ip_address(packed)), int(port, 16)


def listening(pid: int) -> Set[Tuple[str, int]]:
    """The TCP addresses that process `pid` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(_hex_address(fields[1]))
    return found


def non_loopback_addresses() -> List[str]:
    try:
        names = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except socket.gaierror:
        names = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
            probe.connect(("192.0.2.250", 9))
            names.add(probe.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in names if not ipaddress.ip_address(a).is_loopback)


def refused_on(address: str, port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(3)
        return client.connect_ex((address, port)) != 0


def _wait_healthy(service: Service, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not service.is_healthy():
        assert service.exited() is None, f"{service.name} exited; see its log"
        assert time.monotonic() < deadline, f"{service.name} did not come up in {timeout}s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def servers(redis_server, tmp_path_factory) -> Iterator[dict]:
    """The action server and the Rasa server from the launcher's own plan (the defaults:
    RASA_HOST and ACTION_HOST unset)."""
    assert model_path().is_file(), "train first: make train"
    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("doors")
    _own_environment(monkeypatch, tmp_path, REDIS_URL=redis_server.url)
    settings = Settings.from_env()
    launcher = Launcher(settings)
    env = launcher.plan()
    wanted = {s.name: s for s in launcher.services if s.name in ("action server", "rasa server")}
    (tmp_path / "log").mkdir()
    try:
        for service in wanted.values():
            service.log_file = tmp_path / "log" / f"{service.name.replace(' ', '-')}.log"
            service.start(env, settings.project_dir)
        for service in wanted.values():
            _wait_healthy(service)
        yield {"settings": settings, "services": wanted, "redis_url": redis_server.url}
    finally:
        for service in wanted.values():
            service.stop()
        monkeypatch.undo()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["action server", "rasa server"])
def test_internal_servers_listen_on_loopback_only(servers, name):
    settings, service = servers["settings"], servers["services"][name]
    port = settings.action_port if name == "action server" else settings.rasa_port
    assert listening(service.process.pid) == {("127.0.0.1", port)}
    others = non_loopback_addresses()
    assert others, "this machine has no non-loopback address to try from"
    for address in others:  # what a client on the network sees
        assert refused_on(address, port), f"{name} answers on {address}:{port}"
    assert not refused_on("127.0.0.1", port)  # still serving the launcher's other children


def _api(settings: Settings, method: str, path: str, body=None):
    url = f"http://127.0.0.1:{settings.rasa_port}{path}{'&' if '?' in path else '?'}token={settings.rasa_auth_token}"
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _rest(settings: Settings, payload) -> Tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook",
                                     data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
@pytest.mark.parametrize("sender", [VICTIM, f" {VICTIM}", f"../{VICTIM}"])
def test_a_rest_sender_naming_a_customer_never_reaches_that_customers_conversation(servers, sender):
    settings = servers["settings"]
    # The customer's conversation, as a channel would have written it (through the HTTP API).
    _api(settings, "POST", f"/conversations/{VICTIM}/tracker/events",
         [{"event": "user", "text": VICTIM_TEXT, "parse_data": {"intent": {"name": "order_status"}}}])
    before = _api(settings, "GET", f"/conversations/{VICTIM}/tracker")["events"]

    status, replies = _rest(settings, {"sender": sender, "message": "what did I tell you about my order?",
                                       "input_channel": "whatsapp", "metadata": {"channel": "whatsapp"}})

    assert status == 200 and replies, replies  # the REST client is answered, in a conversation of its own
    assert VICTIM_TEXT not in json.dumps(replies) and "4711" not in json.dumps(replies)
    assert _api(settings, "GET", f"/conversations/{VICTIM}/tracker")["events"] == before  # untouched
    # The REST client's own conversation, read from the store itself (Rasa's API cannot
    # address ids with spaces or slashes).
    stored = redis.Redis.from_url(servers["redis_url"])
    assert stored.sismember("tl:trk:customers", "rest:" + sender)
    own = [json.loads(raw) for raw in stored.lrange(f"tl:trk:{{rest:{sender}}}:ev", 0, -1)]
    texts = [e.get("text") for e in own if e["event"] == "user"]
    assert texts == ["what did I tell you about my order?"]
    user = next(e for e in own if e["event"] == "user")
    assert user["input_channel"] == "rest" and "channel" not in user.get("metadata", {})  # the client picks neither


@pytest.mark.slow
@pytest.mark.parametrize("payload", [{"message": "hi"}, {"sender": "", "message": "hi"},
                                     {"sender": ["cus_x"], "message": "hi"}, {"sender": "a\nb", "message": "hi"},
                                     {"sender": "x", "message": {"text": "hi"}}, ["cus_x", "hi"]])
def test_a_malformed_rest_request_is_refused_and_the_server_keeps_answering(servers, payload):
    settings = servers["settings"]
    status, _body = _rest(settings, payload)
    assert status == 400
    assert _rest(settings, {"sender": "someone-else", "message": "hello"})[0] == 200


def test_rasa_host_and_action_host_move_the_servers(redis_server, monkeypatch, tmp_path):
    _own_environment(monkeypatch, tmp_path, REDIS_URL=redis_server.url, RASA_HOST="10.1.2.4", ACTION_HOST="10.1.2.3")
    launcher = Launcher(Settings.from_env())
    launcher.plan()
    services = {s.name: s for s in launcher.services}
    rasa_argv = services["rasa server"].argv
    assert rasa_argv[rasa_argv.index("--interface") + 1] == "10.1.2.4"
    assert services["action server"].own_env == {"ACTION_HOST": "10.1.2.3"}


def test_the_project_local_redis_refuses_clients_without_its_password(monkeypatch, tmp_path):
    _own_environment(monkeypatch, tmp_path)
    settings = Settings.from_env()
    (tmp_path / "var" / "log").mkdir(parents=True)
    service = local_redis(settings)
    service.start(dict(os.environ), settings.project_dir)
    try:
        _wait_healthy(service, timeout=30)
        password_file = tmp_path / "var" / "redis" / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "var" / "redis" / "redis.conf").stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 32 and password not in " ".join(service.argv)  # not on the command line
        anonymous = redis.Redis(port=settings.local_redis_port, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.set("tl:probe", "x")
        # What `bin/threadline` commands and the children use: the URL with the password.
        assert Settings.from_env().effective_redis_url == f"redis://:{password}@127.0.0.1:{settings.local_redis_port}/0"
        redis.Redis.from_url(Settings.from_env().effective_redis_url).rpush("tl:trk:{rest:probe}:ev", '{"event": "x"}')
        cli = subprocess.run([sys.executable, "-m", "threadline.cli.main", "tracker", "history", "rest:probe", "--json"],
                             cwd=settings.project_dir, env=dict(os.environ), capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0 and '"x"' in cli.stdout, cli.stderr[-2000:]
        assert password not in cli.stdout + cli.stderr
    finally:
        service.stop()
    # The next run keeps the same password (data and CLI keep working).
    again = local_redis(Settings.from_env())
    assert password_file.read_text().strip() == password and again.argv == service.argv


@pytest.mark.slow
def test_the_streaming_rest_answer_uses_the_same_namespace(servers):
    settings = servers["settings"]
    _api(settings, "POST", f"/conversations/{VICTIM}/tracker/events",
         [{"event": "user", "text": VICTIM_TEXT, "parse_data": {"intent": {"name": "order_status"}}}])
    before = _api(settings, "GET", f"/conversations/{VICTIM}/tracker")["events"]
    request = urllib.request.Request(f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook?stream=true",
                                     data=json.dumps({"sender": VICTIM, "message": "hello"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        streamed = response.read().decode()
    assert streamed.strip() and VICTIM_TEXT not in streamed
    assert _api(settings, "GET", f"/conversations/{VICTIM}/tracker")["events"] == before
    assert redis.Redis.from_url(servers["redis_url"]).sismember("tl:trk:customers", "rest:" + VICTIM)


@pytest.mark.slow
@pytest.mark.parametrize("typed", ["/restart", "/ /restart", "\u200b/restart", '/provide_contact{"email": "x@evil.example"}'])
def test_a_command_typed_on_the_rest_channel_is_read_as_words(servers, typed):
    settings = servers["settings"]
    sender = "typed-" + str(abs(hash(typed)))
    assert _rest(settings, {"sender": sender, "message": "hello"})[0] == 200

    status, _replies = _rest(settings, {"sender": sender, "message": typed})

    assert status == 200
    stored = redis.Redis.from_url(servers["redis_url"])
    events = [json.loads(raw) for raw in stored.lrange(f"tl:trk:{{rest:{sender}}}:ev", 0, -1)]
    assert not [e for e in events if e["event"] == "restart"]
    # (An address among the words may still be read as one, as if typed: not as a command.)
    last_user = [e for e in events if e["event"] == "user"][-1]
    assert not last_user["text"].lstrip().startswith("/")
    assert all(ent.get("extractor") != "RegexMessageHandler" for ent in last_user["parse_data"]["entities"])
    assert last_user["parse_data"]["intent"].get("confidence", 0) < 1.0  # a command has confidence 1


def test_the_action_server_started_by_hand_listens_on_loopback(tmp_path):
    # Not only the launcher: `python -m threadline.action_server` (bench, tests, operators)
    # never takes rasa_sdk's every-interface default.
    from tests.support.processes import project_process
    from tests.support.redis_server import free_port

    port = free_port()
    env = {"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}", "ACTION_PORT": str(port)}
    with project_process(["-m", "threadline.action_server", "--actions", "actions", "--port", str(port)],
                         f"http://127.0.0.1:{port}/health", env, tmp_path / "actions.log") as process:
        assert listening(process.pid) == {("127.0.0.1", port)}
