"""`make bench-crm-timeline`: how far the CRM timeline trails the conversation.

Turns are saved through the project's tracker store (as Rasa does after each reply) while the
timeline consumer runs; for each turn we measure the time from the save returning to both of
its messages being readable from the CRM. The reply path never waits for this: it is the
delay an agent or the metrics see. CRM on SQLite (default) and on a throwaway PostgreSQL
database when one is reachable; a private redis-server.

Writes results/bench/crm_timeline.json and .png, prints one summary line. No target is set by
the issue; the figure to watch is the p95 lag.
"""
from __future__ import annotations

import asyncio
import json
import platform
import statistics
import time
from bench.databases import run_on_both_databases
from datetime import date
from pathlib import Path

import redis.asyncio as aioredis
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.support.conversations import DOMAIN
from threadline.crm import Database
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline_worker import TimelineWorker
from threadline.settings import PROJECT_DIR

TURNS, CUSTOMERS, PACE_S = 300, 30, 0.02
OUT_DIR = PROJECT_DIR / "results" / "bench"


async def run_backend(crm_url: str, redis_url: str) -> dict:
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    crm = SqlCrm(Database(crm_url))
    client = aioredis.Redis.from_url(redis_url)
    worker = TimelineWorker(client, crm, block_ms=50)
    consumer = asyncio.create_task(worker.run())
    lags, trackers = [], {}
    for turn in range(TURNS):
        customer = f"cus_bench_{turn % CUSTOMERS}"
        tracker = trackers.setdefault(customer, DialogueStateTracker(customer, DOMAIN.slots))
        tracker.update(UserUttered(f"message {turn}", {"name": "greet", "confidence": 0.9},
                                   metadata={"channel": "whatsapp"}))
        tracker.update(ActionExecuted("utter_greet"))
        tracker.update(BotUttered(f"reply {turn}"))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        saved = time.perf_counter()
        expected = 2 * (turn // CUSTOMERS + 1)
        while len(await crm.timeline(customer, limit=10_000)) < expected:
            await asyncio.sleep(0.002)
        lags.append((time.perf_counter() - saved) * 1000)
        await asyncio.sleep(PACE_S)
    worker.stop()
    await consumer
    await client.close(close_connection_pool=True)
    await store.close()
    await crm.close()
    ordered = sorted(lags)
    return {"n": len(lags), "median_ms": statistics.median(lags), "p95_ms": ordered[int(0.95 * len(ordered))],
            "max_ms": ordered[-1], "_samples": lags}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for backend, result in results.items():
        ax.plot(result["_samples"], label=f"{backend} (median {result['median_ms']:.1f} ms)", linewidth=1)
    ax.set_xlabel("turn")
    ax.set_ylabel("ms from tracker save to both messages in the CRM")
    ax.set_title("CRM timeline lag (the reply does not wait for it)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results, notes = run_on_both_databases(run_backend)
    plot(results, OUT_DIR / "crm_timeline.png")
    report = {
        "setup": {"turns": TURNS, "customers": CUSTOMERS, "pace_s": PACE_S, "date": date.today().isoformat(),
                  "python": platform.python_version(), "notes": notes},
        "results": {b: {k: v for k, v in r.items() if not k.startswith("_")} for b, r in results.items()},
    }
    (OUT_DIR / "crm_timeline.json").write_text(json.dumps(report, indent=2))
    print("bench-crm-timeline: " + "; ".join(
        f"{b}: lag median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
        for b, r in results.items()))


if __name__ == "__main__":
    main()
