"""`make bench-scale`: many nodes on one machine, and the Redis primary SIGKILLed mid-load.

Starts, on loopback: Redis Sentinel (1 primary, 2 replicas, 3 sentinels; tests/support/sentinel.py),
PostgreSQL (tests/support/postgres_server.py) migrated once by `bin/threadline migrate`, the
action server, 2 Rasa servers and 2 inbox workers, each with `bin/threadline serve ...` and
`THREADLINE_MIGRATE=check`, HAProxy (Debian's; tests/support/haproxy.py) in front of the two
Rasa servers, and the sandbox WhatsApp provider, which signs each webhook as Meta does and
posts it to HAProxy. Every process uses the `redis+sentinel://` URL and
`THREADLINE_ACK_REPLICAS=1`, so a 200 means a replica holds the message.

Load: CUSTOMERS customers write MESSAGES messages each, in turn: a customer's next message
goes once the bot answered the previous one (or after REPLY_WAIT_S), after a short pause; a
delivery answered other than 200 is delivered again after a second, as a provider does (a new
delivery: the sandbox gives it a new message id). When KILL_AT messages were accepted, the
Redis primary is SIGKILLed; the sentinels promote a replica.

Checked at the end, from the tracker store (what Rasa stored) and the sandbox (what the
customers' phones got):
- every message that got a 200 is a turn exactly once, in the order it was sent, and answered;
- no bot message was sent twice (the provider got as many messages as the turns hold);
- service resumed within RESUME_LIMIT_S of the kill: a webhook answered 200 and a reply sent.

Writes results/bench/scale.json and results/bench/scale.png (reply latency over time, the kill
marked) and prints one line. Exit 1 when a check fails.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp

from threadline.conversation.event_log import CustomerEventLog
from threadline.conversation.redis_connection import connect
from threadline.launcher import redis_env
from threadline.sandbox.config import sandbox_env
from threadline.training import model_path
from tests.support.crm_database import ThrowawayPostgres
from tests.support.haproxy import HAProxy
from tests.support.processes import wait_http_ok
from tests.support.redis_server import free_port
from tests.support.sentinel import SentinelSetup
from tests.support.stack import turns

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "results" / "bench"
THREADLINE = str(PROJECT / "bin" / "threadline")
CUSTOMERS = int(os.environ.get("BENCH_SCALE_CUSTOMERS") or 100)
MESSAGES = int(os.environ.get("BENCH_SCALE_MESSAGES") or 10)
KILL_AT = CUSTOMERS * MESSAGES * 2 // 5  # accepted messages before the primary is killed
REPLY_WAIT_S = 60.0
RESUME_LIMIT_S = 30.0
SETTLE_S = 600.0  # after the load: how long the last turns may take
SANDBOX_TOKEN = "bench-scale-sandbox-token"
AUTH_TOKEN = "bench-scale-token"
TEXTS = ["oi", "quero saber do meu pedido", "where is my order?", "obrigado", "hello",
         "qual o prazo de entrega?", "can I return an item?", "tudo bem?", "thanks", "tchau"]


@dataclass
class Delivery:
    address: str
    index: int  # the customer's message number, 0-based
    message_id: str
    status: int
    sent_at: float  # wall clock (the sandbox's times are wall clock too)
    answered_at: float  # when the webhook's answer came back


@dataclass
class Load:
    deliveries: List[Delivery] = field(default_factory=list)
    killed_at: Optional[float] = None
    accepted: int = 0


def digits(address: str) -> str:
    """A phone number as the sandbox and the tracker may spell it, without + or spaces."""
    return "".join(ch for ch in address if ch.isdigit())


class Cluster:
    """Every process of the benchmark; stopped in reverse order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: List[subprocess.Popen] = []
        self.sentinel: Optional[SentinelSetup] = None
        self.postgres: Optional[ThrowawayPostgres] = None
        self.haproxy: Optional[HAProxy] = None

    def spawn(self, name: str, argv: List[str], env: Dict[str, str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")
        process = subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=log, stderr=log, start_new_session=True)
        self.processes.append(process)
        return process

    def start(self) -> None:
        if not model_path().is_file():
            raise SystemExit("bench-scale: no trained model in models/; run `make train` first")
        self.sentinel = SentinelSetup()
        self.postgres = ThrowawayPostgres()
        rasa_ports, worker_ports = [free_port(), free_port()], [free_port(), free_port()]
        self.haproxy = HAProxy(rasa_ports, check_path="/")
        self.sandbox_port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "RBM_"))}
        base.pop("SANDBOX", None)
        # The sandbox posts webhooks to HAProxy (its RASA_PORT), which spreads them over the servers.
        self.env = {
            **base, **sandbox_env(base, self.sandbox_port, self.haproxy.port, self.folder), **redis_env(self.sentinel.url),
            "CRM_DATABASE_URL": self.postgres.url, "THREADLINE_MIGRATE": "check", "THREADLINE_ACK_REPLICAS": "1",
            "RASA_AUTH_TOKEN": AUTH_TOKEN, "ACTION_PORT": str(free_port()), "RASA_TELEMETRY_ENABLED": "false",
            "THREADLINE_SANDBOX_TOKEN": SANDBOX_TOKEN,
            "THREADLINE_VAR_DIR": str(self.folder / "var"), "PYTHONPATH": str(PROJECT),
        }
        migrated = subprocess.run([THREADLINE, "migrate", "--json"], cwd=PROJECT, env=self.env,
                                  capture_output=True, text=True, timeout=300)
        if migrated.returncode != 0:
            raise RuntimeError(f"bin/threadline migrate failed: {migrated.stderr[-1500:]}")
        waits = []
        waits.append((self.spawn("sandbox", [sys.executable, "-m", "threadline.sandbox"],
                                 {**self.env, "RASA_PORT": str(self.haproxy.port)}),
                      f"http://127.0.0.1:{self.sandbox_port}/health"))
        waits.append((self.spawn("actions", [THREADLINE, "serve", "actions"], self.env),
                      f"http://127.0.0.1:{self.env['ACTION_PORT']}/health"))
        for index, port in enumerate(rasa_ports):
            waits.append((self.spawn(f"rasa-{index + 1}", [THREADLINE, "serve", "rasa"], {**self.env, "RASA_PORT": str(port)}),
                          f"http://127.0.0.1:{port}/status?token={AUTH_TOKEN}"))
        for index, port in enumerate(worker_ports):
            env = {**self.env, "THREADLINE_INBOX_WORKER_PORT": str(port),
                   "THREADLINE_INBOX_CONSUMER": f"bench-scale-worker-{index + 1}"}
            waits.append((self.spawn(f"worker-{index + 1}", [THREADLINE, "serve", "worker"], env),
                          f"http://127.0.0.1:{port}/health"))
        for process, url in waits:
            wait_http_ok(url, process, timeout=900)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for part in (self.haproxy, self.sentinel):
            if part is not None:
                part.stop()
        if self.postgres is not None:
            self.postgres.drop()


class Customers:
    """The customers' side: speak through the sandbox, watch what their phones got."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.base = f"http://127.0.0.1:{cluster.sandbox_port}"
        self.headers = {"X-Sandbox-Token": SANDBOX_TOKEN}
        self.replies: Dict[str, List[float]] = {}  # address -> times of the bot's messages
        self.load = Load()

    async def watch_replies(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with session.get(f"{self.base}/sandbox/sent?channel=whatsapp", headers=self.headers) as answer:
                    sent = (await answer.json())["sent"]
                replies: Dict[str, List[float]] = {}
                for message in sent:
                    replies.setdefault(digits(message["to"]), []).append(message["at"])
                self.replies = replies
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError):
                pass
            await asyncio.sleep(0.5)

    async def deliver(self, session: aiohttp.ClientSession, address: str, text: str) -> tuple:
        async with session.post(f"{self.base}/sandbox/inbound", headers=self.headers,
                                json={"channel": "whatsapp", "address": address, "text": text}) as answer:
            body = await answer.json()
        return body["webhook_status"], body["message_id"]

    async def customer(self, session: aiohttp.ClientSession, number: int, kill) -> None:
        address = f"5511900{number:06d}"
        await asyncio.sleep(random.uniform(0, 5))  # not all at the same instant
        for index in range(MESSAGES):
            replies_before = len(self.replies.get(address, []))
            while True:
                sent_at = time.time()
                try:
                    status, message_id = await self.deliver(session, address, TEXTS[(number + index) % len(TEXTS)])
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    status, message_id = 0, ""
                self.load.deliveries.append(Delivery(address, index, message_id, status, sent_at, time.time()))
                if status == 200:
                    self.load.accepted += 1
                    if self.load.accepted == KILL_AT:
                        kill()
                    break
                await asyncio.sleep(1.0)  # the provider delivers again
            deadline = time.monotonic() + REPLY_WAIT_S
            while len(self.replies.get(address, [])) <= replies_before and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(random.uniform(0.5, 1.5))  # the customer reads, then writes again

    async def run(self) -> None:
        stop = asyncio.Event()

        def kill() -> None:
            self.cluster.sentinel.kill_primary()
            self.load.killed_at = time.time()
            print(f"bench-scale: SIGKILLed the Redis primary after {KILL_AT} accepted messages", flush=True)

        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=200)) as session:
            watcher = asyncio.create_task(self.watch_replies(session, stop))
            await asyncio.gather(*(self.customer(session, number, kill) for number in range(CUSTOMERS)))
            stop.set()
            await watcher


async def stored_turns(url: str) -> Dict[str, list]:
    """address -> the tracker's turns of that address, in stored order."""
    client = connect(url)
    try:
        log = CustomerEventLog(client)
        by_address: Dict[str, list] = {}
        for customer in await log.customers():
            events = [json.loads(raw) for raw in await log.read(customer)]
            users = [e for e in events if e.get("event") == "user"]
            addresses = {digits((e.get("metadata") or {}).get("address") or "") for e in users} - {""}
            for address in addresses:
                by_address.setdefault(address, []).extend(turns(events))
        return by_address
    finally:
        await client.close(close_connection_pool=True)


async def settle(url: str, accepted: Dict[str, List[str]]) -> Dict[str, list]:
    """Wait until every accepted message is a stored turn with an answer (or SETTLE_S passed)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        stored = await stored_turns(url)
        done = all({t.provider_message_id for t in stored.get(address, []) if t.bot_texts} >= set(ids)
                   for address, ids in accepted.items())
        if done or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(2)


def check(load: Load, stored: Dict[str, list], replies: Dict[str, List[float]]) -> dict:
    accepted: Dict[str, List[str]] = {}
    for delivery in load.deliveries:
        if delivery.status == 200:
            accepted.setdefault(delivery.address, []).append(delivery.message_id)
    refused_ids = {d.message_id for d in load.deliveries if d.status != 200 and d.message_id}
    out_of_order, twice, unanswered, missing, refused_answered, resent = 0, 0, 0, 0, 0, 0
    for address, ids in accepted.items():
        stored_ids = [t.provider_message_id for t in stored.get(address, [])]
        wanted = set(ids)
        seen = [i for i in stored_ids if i in wanted]
        twice += len(seen) - len(set(seen))
        missing += len(wanted - set(seen))
        if list(dict.fromkeys(seen)) != [i for i in ids if i in set(seen)]:
            out_of_order += 1
        unanswered += sum(1 for t in stored.get(address, []) if t.provider_message_id in wanted and not t.bot_texts)
        refused_answered += sum(1 for i in stored_ids if i in refused_ids)
        bot_messages = sum(len(t.bot_texts) for t in stored.get(address, []))
        resent += max(0, len(replies.get(address, [])) - bot_messages)
    return {"accepted": sum(len(ids) for ids in accepted.values()), "missing": missing, "stored_twice": twice,
            "customers_out_of_order": out_of_order, "unanswered": unanswered, "replies_sent_twice": resent,
            "refused_but_stored_and_answered": refused_answered}


def latencies(load: Load, replies: Dict[str, List[float]]) -> List[tuple]:
    """(time the message was sent, seconds until the bot's first message after its 200)."""
    points = []
    for delivery in load.deliveries:
        if delivery.status != 200:
            continue
        after = [at for at in replies.get(delivery.address, []) if at >= delivery.answered_at - 0.001]
        if after:
            points.append((delivery.sent_at, after[0] - delivery.sent_at))
    return points


def resumption(load: Load, replies: Dict[str, List[float]]) -> dict:
    killed = load.killed_at
    after_kill = [d for d in load.deliveries if d.sent_at >= killed]
    first_ok = min((d.answered_at for d in after_kill if d.status == 200), default=None)
    refused = [d for d in load.deliveries if d.status != 200]
    reply_times = sorted(at for times in replies.values() for at in times if at > killed)
    # Replies resumed: the first reply after the kill to a message accepted after the kill.
    accepted_after = [d for d in after_kill if d.status == 200]
    first_reply = None
    for delivery in accepted_after:
        later = [at for at in replies.get(delivery.address, []) if at >= delivery.answered_at]
        if later and (first_reply is None or later[0] < first_reply):
            first_reply = later[0]
    return {
        "webhook_200_again_after_s": round(first_ok - killed, 2) if first_ok else None,
        "reply_to_a_new_message_after_s": round(first_reply - killed, 2) if first_reply else None,
        "deliveries_refused": len(refused),
        "refused_statuses": sorted({d.status for d in refused}),
        "refused_between_s": [round(min(d.sent_at for d in refused) - killed, 2),
                              round(max(d.answered_at for d in refused) - killed, 2)] if refused else None,
        "replies_after_kill": len(reply_times),
    }


def plot(points: List[tuple], load: Load, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min(t for t, _ in points)
    fig, axis = plt.subplots(figsize=(9, 4))
    axis.scatter([t - start for t, _ in points], [s for _, s in points], s=6, alpha=0.6,
                 label="message sent → bot's first reply")
    if load.killed_at:
        axis.axvline(load.killed_at - start, color="red", linestyle="--", label="Redis primary SIGKILLed")
    refused = [d.sent_at - start for d in load.deliveries if d.status != 200]
    if refused:
        axis.scatter(refused, [0] * len(refused), marker="x", color="black", s=14, label="webhook refused (503), redelivered")
    axis.set_xlabel("seconds since the first message")
    axis.set_ylabel("reply latency (s)")
    axis.set_title(f"{CUSTOMERS} customers × {MESSAGES} messages, 2 Rasa servers + 2 inbox workers behind HAProxy, Sentinel")
    axis.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="threadline-bench-scale-"))
    cluster = Cluster(folder)
    started = time.monotonic()
    try:
        cluster.start()
        print(f"bench-scale: cluster up in {time.monotonic() - started:.0f} s (logs in {folder})", flush=True)
        customers = Customers(cluster)
        load_started = time.time()
        asyncio.run(customers.run())
        load_s = time.time() - load_started
        accepted: Dict[str, List[str]] = {}
        for delivery in customers.load.deliveries:
            if delivery.status == 200:
                accepted.setdefault(delivery.address, []).append(delivery.message_id)
        stored = asyncio.run(settle(cluster.sentinel.url, accepted))
        replies = asyncio.run(final_replies(cluster))
    finally:
        cluster.stop()
    load = customers.load
    # Every delivery, reply time and stored turn, beside the processes' logs, to trace a failure.
    (folder / "raw.json").write_text(json.dumps({
        "killed_at": load.killed_at, "deliveries": [d.__dict__ for d in load.deliveries], "replies": replies,
        "stored": {address: [t.__dict__ for t in found] for address, found in stored.items()}}))
    checks = check(load, stored, replies)
    resumed = resumption(load, replies)
    points = latencies(load, replies)
    seconds = sorted(s for _, s in points)
    ok = (checks["missing"] == 0 and checks["stored_twice"] == 0 and checks["customers_out_of_order"] == 0
          and checks["unanswered"] == 0 and checks["replies_sent_twice"] == 0
          and resumed["webhook_200_again_after_s"] is not None and resumed["webhook_200_again_after_s"] <= RESUME_LIMIT_S
          and resumed["reply_to_a_new_message_after_s"] is not None
          and resumed["reply_to_a_new_message_after_s"] <= RESUME_LIMIT_S)
    report = {
        "what": "2 Rasa servers (bin/threadline serve rasa) behind HAProxy, 2 inbox workers, the action server, "
                "Redis Sentinel (1 primary, 2 replicas, 3 sentinels, down-after 1 s), PostgreSQL; the sandbox "
                "WhatsApp provider signs and posts each webhook; THREADLINE_ACK_REPLICAS=1; the Redis primary "
                f"SIGKILLed after {KILL_AT} accepted messages",
        "customers": CUSTOMERS, "messages_per_customer": MESSAGES, "deliveries": len(load.deliveries),
        "load_seconds": round(load_s, 1), "checks": checks, "resumption": resumed,
        "reply_latency_s": {"median": round(statistics.median(seconds), 2), "p95": round(seconds[int(len(seconds) * 0.95) - 1], 2),
                            "max": round(seconds[-1], 2), "samples": len(seconds)} if seconds else None,
        "resume_limit_s": RESUME_LIMIT_S, "ok": ok,
        "machine": {"cores": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    if points:
        plot(points, load, RESULTS / "scale.png")
    print(f"bench-scale: {checks['accepted']} messages accepted, {checks['missing']} missing, {checks['stored_twice']} twice, "
          f"{checks['customers_out_of_order']} customers out of order; webhooks 200 again "
          f"{resumed['webhook_200_again_after_s']} s and replies {resumed['reply_to_a_new_message_after_s']} s after the kill; "
          f"{'ok' if ok else 'FAILED'} (results/bench/scale.json; raw data and logs in {folder})", flush=True)
    return 0 if ok else 1


async def final_replies(cluster: Cluster) -> Dict[str, List[float]]:
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.sandbox_port}/sandbox/sent?channel=whatsapp",
                                     headers={"X-Sandbox-Token": SANDBOX_TOKEN})
    sent = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=60).read()))["sent"]
    replies: Dict[str, List[float]] = {}
    for message in sent:
        replies.setdefault(digits(message["to"]), []).append(message["at"])
    return replies


if __name__ == "__main__":
    sys.exit(main())
