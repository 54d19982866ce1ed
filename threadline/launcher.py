"""`make run`: migrate the CRM, start Redis (only when REDIS_URL is unset), the action server,
the Rasa server (webhook edge and HTTP API), THREADLINE_INBOX_WORKERS inbox workers (the
channels' bot turns, in processes of their own: threadline/inbox_worker.py), the CRM timeline
consumer and the agent console; keep them running; stop them all.

A child that dies after start-up, whichever it is, is started again after a backoff (1 s,
doubling to 30 s; back to 1 s once it had run for a minute), one line per restart; the others
go on. A child that dies during start-up stops the launch: that is a configuration error.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only this launcher,
which then stops the children in reverse order. Children also get SIGTERM from the kernel
if the launcher itself dies (PR_SET_PDEATHSIG), so nothing is left behind.

The terminal gets only the launcher's own lines (what starts, how long each took, the banner,
restarts); each child's whole output goes to var/log/<service>.log, and a child that fails
to start is named with the last lines of its log.
"""
from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional
from urllib.parse import urlparse

import redis

from connectors.webhook.runtime import default_consumer_name
from threadline.browser_ports import browser_blocked
from threadline.components import component_args
from threadline.conversation.redis_connection import SENTINEL_SCHEME, connect_sync
from threadline.sandbox.config import DEFAULT_PORT as SANDBOX_DEFAULT_PORT
from threadline.sandbox.config import SandboxConfig, sandbox_env, sandbox_port
from threadline.sandbox.modes import SANDBOX, ChannelConfigError, channel_mode, channel_modes
from threadline.quiet import configure_terminal_logging, quiet_library_warnings
from threadline.settings import DEFAULT_CONSOLE_PORT, Settings, redis_password_file
from threadline.training import model_path

log = logging.getLogger("threadline.launcher")

STARTUP_TIMEOUT_S = 300
STOP_TIMEOUT_S = 15
RESTART_FIRST_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
RESTART_RESET_AFTER_S = 60.0  # a child that ran this long before dying is not crash-looping
FAILED_LOG_LINES = 15  # of a child's log, shown when it fails to start
_PR_SET_PDEATHSIG = 1


class LaunchError(Exception):
    """A service could not be started; the message says what to do."""


def _die_with_parent() -> None:
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Backoff:
    """How long to wait before starting a dead child again: 1 s, doubling up to 30 s, and
    1 s again once the child had run for a minute (it was healthy, not crash-looping)."""

    next_delay_s: float = RESTART_FIRST_DELAY_S

    def delay_after(self, ran_for_s: float) -> float:
        if ran_for_s >= RESTART_RESET_AFTER_S:
            self.next_delay_s = RESTART_FIRST_DELAY_S
        delay = self.next_delay_s
        self.next_delay_s = min(delay * 2, RESTART_MAX_DELAY_S)
        return delay


def describe_exit(code: int) -> str:
    """`exit 3`, or `killed by SIGKILL` for a child a signal ended (Popen's negative codes)."""
    if code >= 0:
        return f"exit {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


@dataclass
class Service:
    name: str
    argv: List[str]
    is_healthy: Callable[[], bool]
    log_file: Optional[Path] = None
    own_env: dict = field(default_factory=dict)  # on top of the environment all children share
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    started_at: float = 0.0  # time.monotonic() of the last start
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: Optional[float] = None  # set while the child is dead and waits for its restart
    restarts: int = 0
    log_start: int = 0  # size of log_file before the last start: what this start wrote follows

    def start(self, env: dict, cwd: Path) -> None:
        # 0600 like the Redis password: a log may hold customer addresses and the sandbox's token.
        output = (os.fdopen(os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
                  if self.log_file else None)
        self.log_start = output.tell() if output else 0
        try:
            self.process = subprocess.Popen(
                self.argv, env={**env, **self.own_env}, cwd=cwd, stdout=output, stderr=output,
                preexec_fn=_die_with_parent,
            )
        finally:
            if output:
                output.close()  # the child has its own copy
        self.started_at = time.monotonic()

    def last_log_lines(self, count: int = FAILED_LOG_LINES) -> List[str]:
        """The last `count` lines this start wrote to its log (none without a log)."""
        if not self.log_file or not self.log_file.is_file():
            return []
        with open(self.log_file, "rb") as log_file:
            log_file.seek(self.log_start)
            written = log_file.read().decode(errors="replace")
        return written.splitlines()[-count:]

    def exited(self) -> Optional[int]:
        return self.process.poll() if self.process else None

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %ss; killing it", self.name, STOP_TIMEOUT_S)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    return check


def redis_problem(url: str) -> Optional[str]:
    """None when the Redis at `url` answers PING, else why not (without the URL's password)."""
    try:
        client = connect_sync(url, timeout_s=2, retries=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as error:
        password = urlparse(url).password
        reason = str(error) or type(error).__name__
        return reason.replace(password, "***") if password else reason
    return None


def redis_answers(url: str) -> bool:
    return redis_problem(url) is None


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("threadline: redis-server not found; installing it with apt-get", flush=True)
        quiet = {"stdout": subprocess.DEVNULL}
        subprocess.run(["apt-get", "update"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "redis-server"], check=True, **quiet)
        found = shutil.which("redis-server")
        if found:
            return found
    raise LaunchError(
        "redis-server is not installed. Install it (Debian/Ubuntu: 'sudo apt-get install "
        "redis-server'; macOS: 'brew install redis') or set REDIS_URL to a running Redis."
    )


def _write_private(path: Path, text: str) -> None:
    """Create or replace `path` readable by this user only (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)  # an older file keeps its old mode through O_CREAT


def local_redis_password(settings: Settings) -> str:
    """The project-local Redis's password: generated once, kept in var/redis/password and
    reused, so data and `bin/threadline` commands keep working across runs."""
    path = redis_password_file(settings.var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    password = path.read_text().strip() if path.is_file() else ""
    if not password:
        password = secrets.token_hex(24)  # hex: safe in a URL and in redis.conf unquoted
    _write_private(path, password + "\n")
    return password


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def local_redis(settings: Settings) -> Service:
    """A project-local Redis with append-only persistence under var/redis, bound to loopback
    and protected by a generated password (other local users cannot read or write it)."""
    data_dir = settings.var_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    if _port_taken(settings.local_redis_port):
        raise LaunchError(
            f"port {settings.local_redis_port} is already taken by something this launcher did not "
            f"start. Set REDIS_URL to use a Redis there, or THREADLINE_REDIS_PORT to another port."
        )
    # In a 0600 file rather than on the command line, which every local user can read in /proc.
    config = data_dir / "redis.conf"
    _write_private(config, f"requirepass {local_redis_password(settings)}\n")
    url = settings.local_redis_url
    argv = [
        redis_server_binary(), str(config), "--port", str(settings.local_redis_port), "--bind", "127.0.0.1",
        "--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--daemonize", "no",
        "--logfile", str(service_log(settings, "redis")),
    ]
    # Its stdout goes to the same file: a bad config is reported there before --logfile opens.
    return Service("redis", argv, lambda: redis_answers(url), log_file=service_log(settings, "redis"))


def service_log(settings: Settings, name: str) -> Path:
    """var/log/<name>.log, `inbox worker 2` as inbox-worker-2.log."""
    return settings.var_dir / "log" / f"{name.replace(' ', '-')}.log"


def webchat_line(base: str, env: dict) -> str:
    """The banner's web chat line: the demo host page in the sandbox, else the widget's URL.
    (A broken web chat configuration stops the Rasa server, which names what is missing.)"""
    try:
        mode = channel_mode("webchat", env, env)
    except ChannelConfigError:
        return "misconfigured: set both WEBCHAT_JWT_SECRET and WEBCHAT_ALLOWED_ORIGINS, or neither"
    if mode == SANDBOX:
        return f"{base}/webhooks/webchat/demo  (demo host page: the widget, sign-in with a demo token)"
    return f"{base}/webhooks/webchat/widget.js  ({mode}; pages of WEBCHAT_ALLOWED_ORIGINS only)"


def reachable(host: str) -> str:
    """Where this machine reaches a server bound to `host` (all interfaces: via loopback)."""
    try:
        unspecified = not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        unspecified = False
    return "127.0.0.1" if unspecified else host


def _without_password(url: str) -> str:
    parts = urlparse(url)
    if not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.replace(parts.password, "***", 1)).geturl()


def redis_env(url: str) -> dict:
    """REDIS_URL plus its parts, for endpoints.yml entries that take host/port/db (a Sentinel
    URL has no single host: only REDIS_URL)."""
    if url.lower().startswith(SENTINEL_SCHEME + "://"):
        return {"REDIS_URL": url}
    parts = urlparse(url)
    return {
        "REDIS_URL": url,
        "REDIS_HOST": parts.hostname or "localhost",
        "REDIS_PORT": str(parts.port or 6379),
        "REDIS_PASSWORD": parts.password or "",
        "REDIS_DB": (parts.path or "/0").strip("/") or "0",
    }


def prepare_crm() -> str:
    """Migrate the CRM database (and seed the demo shop) before anything uses it: what
    `bin/threadline migrate` does, so services started with THREADLINE_MIGRATE=check find it current."""
    from threadline.crm.backends import CrmConfigError, crm_services
    from threadline.crm.db import Database, default_database_url

    url = default_database_url()
    try:
        database = Database(url, migrate=False)
        database.upgrade()
        database.dispose()
        services = crm_services(url)
    except CrmConfigError as error:
        raise LaunchError(str(error)) from error
    except Exception as error:  # unreachable database, failed migration: say which and why
        raise LaunchError(f"the CRM database could not be opened or migrated: {error}") from error
    asyncio.run(services.close())
    return url


def email_state() -> str:
    """The email channel's state for the banner: it has no sandbox, so it is on or off."""
    from connectors.email.config import EmailSettings  # imports Rasa: only for the banner

    if not EmailSettings.configured(None):
        return "disabled (EMAIL_ADDRESS, EMAIL_IMAP_HOST, EMAIL_SMTP_HOST unset; see docs/email.md)"
    # Configured means complete here: the Rasa server refuses to start with a partial set.
    return f"enabled for {os.environ.get('EMAIL_ADDRESS', '').strip()}"


def email_reads_imap() -> bool:
    """Whether the email channel has an IMAP server to read (a partial email configuration is
    refused by the Rasa server and by the reader alike)."""
    return bool(os.environ.get("EMAIL_IMAP_HOST", "").strip())


def email_reader_port() -> int:
    from connectors.email.reader_service import DEFAULT_PORT

    return int(os.environ.get("EMAIL_READER_PORT") or DEFAULT_PORT)


class Launcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: List[Service] = []
        self.stopping = False
        self.env: dict = {}  # what every child gets, kept for restarts

    def plan(self) -> dict:
        """Decide what to start; returns the environment the children share."""
        s = self.settings
        python = sys.executable
        # A partly configured channel, or a sandbox in production, stops here, before anything starts.
        try:
            self.channel_modes = channel_modes(os.environ)
            self.channel_env = sandbox_env(os.environ, sandbox_port(os.environ), s.rasa_port, s.var_dir)
        except ChannelConfigError as error:
            raise LaunchError(str(error)) from None
        self.service_ports()  # two services on one port stop here too
        if s.redis_url:
            # Never a local Redis instead: inbox, locks and trackers would split over two stores.
            problem = redis_problem(s.redis_url)
            if problem:
                raise LaunchError(
                    f"REDIS_URL {_without_password(s.redis_url)} does not answer ({problem}). Start that "
                    f"Redis or correct REDIS_URL; unset it to use a project-local Redis."
                )
            url, note = s.redis_url, "from REDIS_URL"
        else:
            self.services.append(local_redis(s))
            url = s.local_redis_url
            note = f"project-local, data in {s.var_dir / 'redis'}, password in {redis_password_file(s.var_dir)}"
        self.redis_note = f"{_without_password(url)} ({note})"
        if not model_path().is_file():
            raise LaunchError("no trained model in models/; run 'make run' (it trains) or 'make train'")
        crm_url = prepare_crm()
        # --- webhook channels: the sandbox provider stands in for channels with none of their
        # variables set
        if self.channel_env["THREADLINE_SANDBOX_CHANNELS"]:
            self.services.append(Service(
                "sandbox provider", [python, "-m", "threadline.sandbox"],
                http_ok(f"http://127.0.0.1:{sandbox_port(os.environ)}/health"),
            ))
        # ---
        self.services.append(Service(
            "action server",
            [python, *component_args("actions", s)],
            http_ok(f"http://{reachable(s.action_host)}:{s.action_port}/health"),
            own_env={"ACTION_HOST": s.action_host},
        ))
        self.services.append(Service(
            "rasa server",
            [python, *component_args("rasa", s)],
            http_ok(f"http://{reachable(s.rasa_host)}:{s.rasa_port}/status?token={s.rasa_auth_token}"),
        ))
        self.services.extend(self.inbox_workers())
        self.services.append(Service(
            "crm timeline",
            [python, *component_args("timeline", s)],
            http_ok(f"http://127.0.0.1:{s.crm_timeline_port}/health"),
        ))
        self.services.append(Service(
            "follow-ups", [python, *component_args("followups", s)],
            http_ok(f"http://127.0.0.1:{s.followups_port}/health"),
        ))
        self.services.append(Service(
            "agent console", [python, *component_args("console", s)],
            http_ok(f"http://127.0.0.1:{s.console_port}/health"),
        ))
        email_reader = {}
        if email_reads_imap():
            # The IMAP reader in its own process, as `bin/threadline serve email` runs it; the
            # Rasa server then only answers the Mailgun webhook.
            email_reader = {"THREADLINE_EMAIL_READER": "separate"}
            self.services.append(Service(
                "email reader", [python, *component_args("email", s)],
                http_ok(f"http://127.0.0.1:{email_reader_port()}/health"),
            ))
        for service in self.services:
            service.log_file = service.log_file or service_log(s, service.name)
        return {
            **os.environ,
            **self.channel_env,
            **redis_env(url),
            "CRM_DATABASE_URL": crm_url,
            "CRM_TIMELINE_PORT": str(s.crm_timeline_port),
            "CONSOLE_PORT": str(s.console_port),
            "FOLLOWUPS_PORT": str(s.followups_port),
            "RASA_AUTH_TOKEN": s.rasa_auth_token,
            "RASA_PORT": str(s.rasa_port),
            "ACTION_PORT": str(s.action_port),
            "RASA_TELEMETRY_ENABLED": os.environ.get("RASA_TELEMETRY_ENABLED", "false"),
            # TensorFlow's INFO lines (CUDA not found, CPU features) are noise on a server.
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1"),
            **email_reader,
        }

    def service_ports(self) -> Dict[str, int]:
        """The port of each service `make run` starts (by its variable); two services on one
        port would leave one of them failing its health check forever: refused here, named."""
        s = self.settings
        ports = {"RASA_PORT": s.rasa_port, "ACTION_PORT": s.action_port, "CRM_TIMELINE_PORT": s.crm_timeline_port,
                 "CONSOLE_PORT": s.console_port, "FOLLOWUPS_PORT": s.followups_port}
        if not s.redis_url:
            ports["THREADLINE_REDIS_PORT"] = s.local_redis_port
        if email_reads_imap():
            ports["EMAIL_READER_PORT"] = email_reader_port()
        if self.channel_env["THREADLINE_SANDBOX_CHANNELS"]:
            ports["THREADLINE_SANDBOX_PORT"] = sandbox_port(os.environ)
        seen: Dict[int, str] = {}
        for variable, port in ports.items():
            if port in seen:
                raise LaunchError(f"{variable} and {seen[port]} are both port {port}; give one of them another port")
            seen[port] = variable
        return ports

    def inbox_workers(self) -> List[Service]:
        """THREADLINE_INBOX_WORKERS workers; worker i (0-based) has health port base + i and its
        own consumer name, the same one at every restart, so a restarted worker replays its own
        pending entries at once. The first keeps the single worker's name."""
        s = self.settings
        ports = [s.inbox_worker_port + i for i in range(s.inbox_workers)]
        taken = set(self.service_ports().values())
        clashes = sorted(taken.intersection(ports))
        if clashes:
            raise LaunchError(
                f"the inbox workers' health ports {ports[0]}-{ports[-1]} (THREADLINE_INBOX_WORKER_PORT and "
                f"the next THREADLINE_INBOX_WORKERS - 1) include port {clashes[0]} of another service; "
                f"choose another THREADLINE_INBOX_WORKER_PORT"
            )
        consumer = default_consumer_name()
        workers = []
        for index, port in enumerate(ports):
            own_env = {"THREADLINE_INBOX_WORKER_PORT": str(port)}
            if index:
                own_env["THREADLINE_INBOX_CONSUMER"] = f"{consumer}#{index + 1}"
            workers.append(Service(
                "inbox worker" if s.inbox_workers == 1 else f"inbox worker {index + 1}",
                [sys.executable, *component_args("worker", s)],
                http_ok(f"http://127.0.0.1:{port}/health"),
                own_env=own_env,
            ))
        return workers

    def start_all(self, env: dict) -> None:
        self.env = env
        (self.settings.var_dir / "log").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for service in self.services:
            service.start(env, self.settings.project_dir)
        print(f"threadline: starting {len(self.services)} services: "
              f"{', '.join(service.name for service in self.services)} (logs in {self.log_dir()})", flush=True)
        deadline = started + STARTUP_TIMEOUT_S
        waiting = list(self.services)
        while waiting:
            if self.stopping:
                return
            for service in list(waiting):
                code = service.exited()
                if code is not None:
                    raise LaunchError(f"{service.name} exited during start-up ({describe_exit(code)})"
                                      + failure_details(service))
                if service.is_healthy():
                    waiting.remove(service)
                    done = len(self.services) - len(waiting)
                    print(f"threadline: [{done}/{len(self.services)}] {service.name} is up "
                          f"({time.monotonic() - service.started_at:.1f}s)", flush=True)
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise LaunchError(f"{names} did not answer within {STARTUP_TIMEOUT_S}s"
                                  + "".join(f"\n{service.name}{failure_details(service)}" for service in waiting))
            time.sleep(0.5)

    def log_dir(self) -> Path:
        return self.settings.var_dir / "log"

    def print_urls(self) -> None:
        s = self.settings
        base = f"http://{reachable(s.rasa_host)}:{s.rasa_port}"
        print("\nThreadline is up:")
        print(f"  Rasa server   {base}  (HTTP API, token in RASA_AUTH_TOKEN; listening on {s.rasa_host})")
        print(f"  REST channel  {base}/webhooks/rest/webhook  (its own senders, never a customer)")
        print(f"  Actions       http://{reachable(s.action_host)}:{s.action_port}  (listening on {s.action_host})")
        print(f"  CRM timeline  http://127.0.0.1:{s.crm_timeline_port}/health")
        print(f"  Console       http://127.0.0.1:{s.console_port}/  (agents sign in here: see First login)")
        print_if_browser_blocked(s.console_port, "CONSOLE_PORT", DEFAULT_CONSOLE_PORT)
        for worker in (service for service in self.services if service.name.startswith("inbox worker")):
            port = worker.own_env["THREADLINE_INBOX_WORKER_PORT"]
            consumer = worker.own_env.get("THREADLINE_INBOX_CONSUMER", default_consumer_name())
            print(f"  {worker.name.capitalize():<13} http://127.0.0.1:{port}/health  (consumer {consumer}; "
                  f"bot turns of the channels below)")
        print(f"  Channels      {base}/webhooks/{{whatsapp,instagram,sms,rcs}}/webhook")
        print("                " + ", ".join(f"{channel} {mode}" for channel, mode in self.channel_modes.items()))
        print(f"  Web chat      {webchat_line(base, {**os.environ, **self.channel_env})}")
        sandboxed = self.channel_env["THREADLINE_SANDBOX_CHANNELS"]
        if sandboxed:
            page = SandboxConfig.from_env(self.channel_env).page_url()
            print(f"  Simulator     {page}  (sandbox for {sandboxed})")
            print_if_browser_blocked(sandbox_port(self.channel_env), "THREADLINE_SANDBOX_PORT", SANDBOX_DEFAULT_PORT)
            print(f"  SANDBOX       {sandboxed.replace(',', ', ')}: replies and identity codes go to the local "
                  f"sandbox provider, never to a real customer")
        print(f"  Email         {email_state()}")
        print(f"  Redis         {self.redis_note}")
        if s.auth_token_generated:
            print(f"  RASA_AUTH_TOKEN was not set; generated for this run: {s.rasa_auth_token}")
        self.print_next_steps()
        print("Press Ctrl-C to stop everything.\n", flush=True)

    def print_next_steps(self) -> None:
        print(f"  Logs          {self.log_dir()}/  (one file per service)")
        print("  First login   bin/threadline agent add NAME  (asks a password; then sign in at the Console)")
        print("  Stop          Ctrl-C here stops every process it started")

    def stop_all(self, *_: object) -> None:
        self.stopping = True
        for service in reversed(self.services):
            if service.process and service.process.poll() is None:
                print(f"threadline: stopping {service.name}", flush=True)
            service.stop()

    def supervise(self) -> None:
        """Until a signal arrives: start again, after its backoff, any service that died."""
        while not self.stopping:
            now = time.monotonic()
            for service in self.services:
                if self.stopping:
                    return
                if service.restart_at is not None:
                    if now >= service.restart_at:
                        service.restart_at = None
                        print(f"threadline: starting {service.name} again", flush=True)
                        service.start(self.env, self.settings.project_dir)
                    continue
                code = service.exited()
                if code is not None:
                    delay = service.backoff.delay_after(now - service.started_at)
                    service.restart_at = now + delay
                    service.restarts += 1
                    print(f"threadline: {service.name} exited ({describe_exit(code)}); restarting it in "
                          f"{delay:g}s (restart {service.restarts})", flush=True)
            time.sleep(0.5)


def print_if_browser_blocked(port: int, variable: str, default: int) -> None:
    """A banner note under an address no browser opens (port 5060 of an old .env, say)."""
    if browser_blocked(port):
        print(f"                browsers refuse port {port} (ERR_UNSAFE_PORT): set {variable} to another "
              f"port, such as its default {default}")


def failure_details(service: Service) -> str:
    """The end of a failed service's log, for the error that names it."""
    lines = service.last_log_lines()
    if not lines:
        return f"; its log {service.log_file} is empty" if service.log_file else ""
    shown = "\n".join(f"  | {line}" for line in lines)
    return f"; last lines of {service.log_file}:\n{shown}"


def main() -> int:
    quiet_library_warnings()
    configure_terminal_logging()
    launcher = Launcher(Settings.from_env())
    signal.signal(signal.SIGINT, launcher.stop_all)
    signal.signal(signal.SIGTERM, launcher.stop_all)
    code = 1
    try:
        env = launcher.plan()
        launcher.start_all(env)
        if not launcher.stopping:
            launcher.print_urls()
            launcher.supervise()
        code = 0
    except LaunchError as error:
        print(f"threadline: {error}", file=sys.stderr, flush=True)
    finally:
        launcher.stop_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
