"""`make bench-ack-replicas`: what `THREADLINE_ACK_REPLICAS=1` costs in webhook ack latency.

Starts a Redis Sentinel set-up on loopback (1 primary, 2 replicas, 3 sentinels;
tests/support/sentinel.py) and two webhook edges (the scripted test server: the real
WhatsApp connector, signature check, parsing and inbox accept, as in the Rasa server),
one with `THREADLINE_ACK_REPLICAS=0` and one with `=1`, both on the `redis+sentinel://` URL.
Signed deliveries (a new message of one of 200 customers each) go to the two edges in
turn, one at a time, so a busy machine slows both alike; each POST is timed until its
answer. The inbox accept alone (`Inbox.accept`, in this process, same Sentinel) is timed
the same way, interleaved, to show the cost without HTTP. No inbox worker runs: nothing
competes with the acknowledgements.

Writes results/bench/ack_replicas.json and results/bench/ack_replicas.png and prints one line.
"""
from __future__ import annotations

import asyncio
import os
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import aiohttp

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import AckPolicy, Inbox
from threadline.conversation.redis_connection import connect
from threadline.sandbox import payloads as p
from threadline.sandbox.config import sandbox_env
from tests.channels.conftest import BotServer
from tests.support.redis_server import free_port
from tests.support.sentinel import SentinelSetup

RESULTS = Path(__file__).resolve().parents[1] / "results" / "bench"
SAMPLES = 400
WARM_UP = 40
SETTINGS = (0, 1)


def summary(samples_ms: List[float]) -> Dict[str, float]:
    ordered = sorted(samples_ms)
    return {"median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
            "samples": len(ordered)}


def edge_env(setup: SentinelSetup, folder: Path, replicas: int) -> Dict[str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "RBM_"))}
    env.pop("SANDBOX", None)
    env.update(sandbox_env(env, free_port(), port))
    env.update(REDIS_URL=setup.url, CRM_DATABASE_URL=f"sqlite:///{folder / 'crm.sqlite3'}", BOT_PORT=str(port),
               RASA_PORT=str(port), PYTHONPATH=str(RESULTS.parents[1]), THREADLINE_ACK_REPLICAS=str(replicas),
               THREADLINE_INBOX_CONSUMER=f"bench-{replicas}", THREADLINE_INBOX_WORKER_PORT=str(free_port()))
    return env


def delivery(env: Dict[str, str], n: int) -> p.Delivery:
    wa_id = f"55119{n % 200:08d}"
    message = p.whatsapp_message("text", wa_id, {"body": "oi"})
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [message], contacts=[p.whatsapp_contact(wa_id, "Cliente")])
    return p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)


async def webhook_acks(edges: Dict[int, BotServer]) -> Dict[int, List[float]]:
    timings: Dict[int, List[float]] = {n: [] for n in edges}
    async with aiohttp.ClientSession() as session:
        for i in range(WARM_UP + SAMPLES):
            for replicas, edge in edges.items():
                signed = delivery(edge.env, i)  # signed before the clock starts
                started = time.perf_counter()
                async with session.post(f"{edge.base}/whatsapp/webhook", data=signed.body, headers=signed.headers) as answer:
                    await answer.read()
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status != 200:
                    raise RuntimeError(f"edge with ACK_REPLICAS={replicas} answered {answer.status}")
                if i >= WARM_UP:
                    timings[replicas].append(elapsed)
    return timings


async def inbox_accepts(url: str) -> Dict[int, List[float]]:
    client = connect(url)
    inboxes = {n: Inbox(client, f"bench{n}", 3600, AckPolicy(replicas=n)) for n in SETTINGS}
    timings: Dict[int, List[float]] = {n: [] for n in SETTINGS}
    try:
        for i in range(WARM_UP + SAMPLES):
            for replicas, inbox in inboxes.items():
                event = InboundEvent(channel=f"bench{replicas}", kind="message", event_id=secrets.token_hex(8),
                                     address=f"55119{i % 200:08d}", text="oi")
                started = time.perf_counter()
                await inbox.accept([event])
                if i >= WARM_UP:
                    timings[replicas].append((time.perf_counter() - started) * 1000)
    finally:
        await client.close()
    return timings


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (key, title) in zip(axes, (("webhook", "webhook POST until 200"), ("inbox_accept", "Inbox.accept alone"))):
        data = [report["raw_ms"][key][str(n)] for n in SETTINGS]
        ax.boxplot(data, labels=[f"ACK_REPLICAS={n}" for n in SETTINGS], showfliers=False)
        ax.set_title(title)
        ax.set_ylabel("ms")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Ack latency on Redis Sentinel (1 primary, 2 replicas), loopback")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    setup = SentinelSetup()
    folder = Path(tempfile.mkdtemp(prefix="threadline-bench-ack-"))
    edges = {n: BotServer(edge_env(setup, folder, n), folder / f"edge-{n}.log") for n in SETTINGS}
    try:
        for edge in edges.values():
            edge.start()
        webhook = asyncio.run(webhook_acks(edges))
        accept = asyncio.run(inbox_accepts(setup.url))
    finally:
        for edge in edges.values():
            edge.stop()
        setup.stop()
    report = {
        "benchmark": "webhook acknowledgement latency with THREADLINE_ACK_REPLICAS=0 and =1",
        "method": " ".join(__doc__.split("\n\n")[1].split()),
        "set_up": "Redis Sentinel: 1 primary, 2 replicas, 3 sentinels, redis-server 7.0, loopback",
        "results": {
            "webhook": {f"ack_replicas_{n}": summary(webhook[n]) for n in SETTINGS},
            "inbox_accept": {f"ack_replicas_{n}": summary(accept[n]) for n in SETTINGS},
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "raw_ms": {"webhook": {str(n): [round(x, 3) for x in webhook[n]] for n in SETTINGS},
                   "inbox_accept": {str(n): [round(x, 3) for x in accept[n]] for n in SETTINGS}},
    }
    w, a = report["results"]["webhook"], report["results"]["inbox_accept"]
    report["webhook_median_added_ms"] = round(w["ack_replicas_1"]["median_ms"] - w["ack_replicas_0"]["median_ms"], 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, RESULTS / "ack_replicas.png")
    (RESULTS / "ack_replicas.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench-ack-replicas: webhook median {w['ack_replicas_0']['median_ms']:.2f} ms (N=0) -> "
          f"{w['ack_replicas_1']['median_ms']:.2f} ms (N=1), p99 {w['ack_replicas_0']['p99_ms']:.2f} -> "
          f"{w['ack_replicas_1']['p99_ms']:.2f} ms; inbox accept median {a['ack_replicas_0']['median_ms']:.2f} -> "
          f"{a['ack_replicas_1']['median_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
