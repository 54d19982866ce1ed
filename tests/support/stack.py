"""The whole project as `make run` runs it, for fault-injection tests.

`Stack` starts its own redis-server (tests/support/redis_server.py, append-only, free port, tmp
folder) and `python -m threadline.launcher` against it (REDIS_URL), on free ports, with the
var folder (CRM SQLite, logs, failpoint counters) in the test's tmp dir. Channels have no
credentials, so the launcher's sandbox provider stands in for Meta and Twilio: the test speaks
as a customer through `/sandbox/inbound` (the sandbox signs each webhook as the provider
does) and reads what the bot sent from `/sandbox/conversation`. The launcher restarts any
child that dies, which is what makes recovery after a failpoint happen.

Failpoints: every point is armed with a count no run reaches (`NEVER`), and `arm_next(point)`
sets that point's shared hit counter (threadline/conversation/failpoints.py: one file per
point, under THREADLINE_FAILPOINTS_DIR, counted under an flock) to one less, so the next hit,
by whichever process, fires it. One stack can thus serve every point in turn, each at a moment
the test chooses, instead of one launch per point.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import redis
import redis.asyncio as aioredis

from tests.support.launcher_run import LauncherRun, alive, clean_env, descendants, free_port_pair, health
from tests.support.processes import PROJECT
from tests.support.redis_server import RedisServer, free_port
from threadline.conversation import failpoints
from threadline.conversation.event_log import CustomerEventLog

NEVER = 10 ** 9  # the armed count: reached only through arm_next
STARTUP_TIMEOUT_S = 420  # model loads in three processes on a shared 2-core machine
SANDBOX_TOKEN = "fault-suite-sandbox-token"
PORT_CLASH = ("already taken", "Address already in use", "address already in use", "Errno 98")


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.25) -> Any:
    """Poll `condition` until it returns something truthy; return it (or fail naming `what`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class Turn:
    """One customer message as the tracker holds it, with the bot messages that followed it."""

    provider_message_id: str
    text: str
    bot_texts: List[str]


class Stack:
    def __init__(self, folder: Path, *, inbox_workers: int = 1, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.folder = folder
        self.redis = RedisServer(appendonly=True)
        self.failpoints_dir = folder / "failpoints"
        self.inbox_workers = inbox_workers
        self.extra_env = extra_env or {}
        self._choose_ports()
        self.run: Optional[LauncherRun] = None

    def _choose_ports(self) -> None:
        """Free ports, all different (free_port alone may hand out one twice), for the
        launcher's services; the inbox workers take worker_port .. worker_port + N - 1."""
        while True:
            self.worker_port = free_port_pair()
            others = [free_port() for _ in range(5)]
            taken = set(others) | {self.redis.port}
            if len(set(others)) == 5 and not taken & {self.worker_port + i for i in range(self.inbox_workers)}:
                break
        self.rasa_port, self.sandbox_port, self.console_port, action_port, timeline_port = others
        armed = ",".join(f"{name}={NEVER}" for name in sorted(failpoints.KNOWN))
        self.env = clean_env(
            self.folder,
            REDIS_URL=self.redis.url,
            RASA_PORT=str(self.rasa_port), ACTION_PORT=str(action_port), CONSOLE_PORT=str(self.console_port),
            CRM_TIMELINE_PORT=str(timeline_port), THREADLINE_SANDBOX_PORT=str(self.sandbox_port),
            THREADLINE_INBOX_WORKER_PORT=str(self.worker_port), THREADLINE_INBOX_WORKERS=str(self.inbox_workers),
            THREADLINE_SANDBOX_TOKEN=SANDBOX_TOKEN,
            THREADLINE_FAILPOINTS=armed, THREADLINE_FAILPOINTS_DIR=str(self.failpoints_dir),
            **self.extra_env,
        )

    # --- life cycle ---------------------------------------------------------------------
    def start(self) -> "Stack":
        for attempt in (1, 2):
            self.run = LauncherRun(self.env)
            try:
                self.banner = self.run.wait_for_line("Press Ctrl-C to stop everything.", STARTUP_TIMEOUT_S)
                return self
            except AssertionError:
                output = "".join(self.run.lines)
                self.run.close()
                # Another test on the machine took one of our free ports before the launcher
                # bound it: once more on new ports. Any other start-up failure is the test's.
                if attempt == 2 or not any(sign in output for sign in PORT_CLASH):
                    raise
                self._choose_ports()
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.run is not None:
            self.run.close()  # SIGKILL: the children get SIGTERM through PR_SET_PDEATHSIG
            wait_until(lambda: not self._children_alive(), 30, "the stack's children to end")
        self.redis.stop()

    def _children_alive(self) -> bool:
        return bool([pid for pid in descendants(self.run.process.pid) if alive(pid)])

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log_lines(self, text: str) -> List[str]:
        return [line for line in self.run.lines[self.banner:] if text in line]

    # --- processes ----------------------------------------------------------------------
    def worker_health(self, index: int = 0) -> Optional[dict]:
        """Inbox worker `index`'s /health ({"status", "pid", ...}), None while it is down."""
        return health(self.worker_port + index)

    def worker_pid(self, index: int = 0) -> int:
        answer = wait_until(lambda: (h := self.worker_health(index)) and h["status"] == "ok" and h, 300,
                            f"inbox worker {index + 1} to answer health")
        return answer["pid"]

    def wait_for_new_worker(self, old_pid: int, index: int = 0, timeout_s: float = 300) -> int:
        """The pid of the worker that replaced `old_pid` once it consumes (health ok)."""
        answer = wait_until(lambda: (h := self.worker_health(index)) and h["status"] == "ok"
                            and h["pid"] != old_pid and h, timeout_s, f"inbox worker {index + 1} to be restarted")
        return answer["pid"]

    # --- failpoints ---------------------------------------------------------------------
    def arm_next(self, point: str) -> None:
        """The next time any process reaches `point`, it ends (os._exit(86))."""
        assert point in failpoints.KNOWN
        self.failpoints_dir.mkdir(parents=True, exist_ok=True)
        with open(self.failpoints_dir / f"{point}.hits", "a+") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)  # the same lock failpoints.reach counts under
            counter.seek(0)
            counter.truncate()
            counter.write(str(NEVER - 1))

    def fired_pid(self, point: str) -> Optional[int]:
        fired = self.failpoints_dir / f"{point}.fired"
        return int(fired.read_text()) if fired.is_file() else None

    def wait_fired(self, point: str, timeout_s: float = 120) -> int:
        return wait_until(lambda: self.fired_pid(point), timeout_s, f"failpoint {point} to fire")

    # --- the customer's side (the sandbox provider) -------------------------------------
    def _sandbox(self, method: str, path: str, payload: Optional[dict] = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.sandbox_port}{path}", method=method,
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Content-Type": "application/json", "X-Sandbox-Token": SANDBOX_TOKEN})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def say(self, channel: str, address: str, text: str) -> str:
        """The customer writes; returns the provider message id the webhook carried."""
        answer = self._sandbox("POST", "/sandbox/inbound", {"channel": channel, "address": address, "text": text})
        assert answer["webhook_status"] == 200, answer
        return answer["message_id"]

    def conversation(self, channel: str, address: str) -> List[dict]:
        """What the customer's phone shows, both ways, in order."""
        query = urllib.parse.urlencode({"channel": channel, "address": address})
        return self._sandbox("GET", f"/sandbox/conversation?{query}")["messages"]

    def bot_messages(self, channel: str, address: str) -> List[str]:
        """Every message the provider received from the bot for this address, duplicates included."""
        return [m.get("text") or "" for m in self.conversation(channel, address) if m["direction"] == "out"]

    def sent(self, channel: Optional[str] = None) -> List[dict]:
        return self._sandbox("GET", "/sandbox/sent" + (f"?channel={channel}" if channel else ""))["sent"]

    def cli(self, *args: str) -> Any:
        """`bin/threadline ARGS --json` against this stack's Redis and CRM; its parsed output."""
        result = subprocess.run([str(PROJECT / "bin" / "threadline"), *args, "--json"], cwd=PROJECT,
                                env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"bin/threadline {' '.join(args)}: {result.stderr[-2000:]}"
        return json.loads(result.stdout)

    # --- what the project stored --------------------------------------------------------
    def _log(self, work: Callable[[CustomerEventLog], Any]) -> Any:
        async def run() -> Any:
            client = aioredis.Redis.from_url(self.redis.url)
            try:
                return await work(CustomerEventLog(client))
            finally:
                await client.close()
        return asyncio.run(run())

    def events(self, customer_id: str) -> List[dict]:
        """The customer's whole stored log (the tracker store's events), oldest first."""
        return [json.loads(raw) for raw in self._log(lambda log: log.read(customer_id))]

    def all_events(self) -> Dict[str, List[dict]]:
        async def read(log: CustomerEventLog) -> Dict[str, List[dict]]:
            return {customer: [json.loads(raw) for raw in await log.read(customer)]
                    for customer in await log.customers()}
        return self._log(read)

    def customer_of(self, channel: str, address: str) -> str:
        """The customer whose log holds this address's messages (their user events name it)."""
        def owner() -> Optional[str]:
            for customer, events in self.all_events().items():
                if any(e.get("event") == "user" and (e.get("metadata") or {}).get("address") == address
                       and (e.get("metadata") or {}).get("channel") == channel for e in events):
                    return customer
            return None
        return wait_until(owner, 60, f"a customer log with {channel} {address}")

    def crm_rows(self, customer_id: Optional[str] = None) -> List[tuple]:
        """CRM timeline rows (customer_id, author, text, provider_message_id), in id order."""
        crm = sqlite3.connect(self.folder / "var" / "crm.sqlite3", timeout=30)
        try:
            query = "SELECT customer_id, author, text, provider_message_id FROM interactions"
            if customer_id is None:
                return crm.execute(query + " ORDER BY id").fetchall()
            return crm.execute(query + " WHERE customer_id = ? ORDER BY id", (customer_id,)).fetchall()
        finally:
            crm.close()

    def delivered(self, channel: str) -> bool:
        """Every message the provider received was reported delivered back (receipts consumed)."""
        client = redis.Redis.from_url(self.redis.url)
        try:
            return all(client.hget(f"tl:out:msg:{channel}:{m['id']}", "status") in (b"delivered", b"read")
                       for m in self.sent(channel))
        finally:
            client.close()


def turns(events: Sequence[dict]) -> List[Turn]:
    """The tracker's user events in order, each with the bot messages that answered it."""
    found: List[Turn] = []
    for event in events:
        if event.get("event") == "user":
            # The store keeps the provider's id once, as message_id, when the two are the same
            # (threadline/conversation/slim_events.py).
            found.append(Turn((event.get("metadata") or {}).get("provider_message_id") or event.get("message_id") or "",
                              event.get("text") or "", []))
        elif event.get("event") == "bot" and found:
            found[-1].bot_texts.append(event.get("text") or "")
    return found
