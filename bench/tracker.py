"""`make bench-tracker`: per-turn cost of CustomerTrackerStore vs Rasa's RedisTrackerStore.

One turn = retrieve the customer's tracker, add one exchange (user message, bot action, bot
message, action_listen), save it: what Rasa's processor does to the store per message.

Histories of 20, 200, 2,000 and 10,000 prior events. The current session always holds the
same 20 events (sessions end after 60 minutes of silence, so their length does not grow with
a customer's history); the rest of the history is earlier sessions of 25 turns (103 events),
two hours apart. Every sample starts from an identical copy of the history (a server-side
COPY, not timed, of the events, the session index and the turn index), so samples do not
grow the history they measure. Every user event carries a provider message id, as from a
channel, so each save also indexes its turn. Sizes are interleaved sample by sample, so a
busy machine slows all sizes alike; the stores run one after the other, so the garbage of
Rasa's 10,000-event turns does not land in our timings.

Writes results/bench/tracker.json and results/bench/tracker.png, prints one summary line.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Dict, List

import redis
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered

from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.support.redis_server import RedisServer
from threadline.settings import PROJECT_DIR

SIZES = [20, 200, 2000, 10000]
CURRENT_SESSION_EVENTS = 20
TURNS_PER_OLD_SESSION = 25
SAMPLES = {"threadline": 150, "rasa_redis": 15}
WARMUP = 3
OUT_DIR = PROJECT_DIR / "results" / "bench"
SENDER = "cus_bench"


def exchange(t: float, text: str) -> List[Event]:
    return [
        # A provider message id, as every channel gives: the save indexes it (has_turn).
        UserUttered(text, {"name": "greet", "confidence": 0.98}, timestamp=t,
                    metadata={"channel": "whatsapp"}, message_id=f"wamid.{uuid.uuid4().hex}"),
        ActionExecuted("utter_greet", policy="RulePolicy", confidence=1.0, timestamp=t + 0.1),
        BotUttered("Hi! I'm Threadline's assistant. How can I help you today?", timestamp=t + 0.2),
        ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0, timestamp=t + 0.3),
    ]


def session(t: float, turns: int) -> List[Event]:
    events: List[Event] = [
        ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t),
        ActionExecuted("action_listen", timestamp=t),
    ]
    for k in range(turns):
        events += exchange(t + 30 * (k + 1), f"message {k}")
    return events


def history(size: int) -> List[dict]:
    """`size` events: earlier sessions, then a current session of exactly 20 events."""
    now = time.time()
    current = session(now - 600, 4)
    current.append(ActionExecuted("action_listen", timestamp=now - 60))
    assert len(current) == CURRENT_SESSION_EVENTS
    earlier: List[Event] = []
    t = now - 7200
    while len(earlier) < size - CURRENT_SESSION_EVENTS:
        earlier = session(t, TURNS_PER_OLD_SESSION) + earlier
        t -= 7200
    earlier = earlier[len(earlier) - (size - CURRENT_SESSION_EVENTS):] if size > CURRENT_SESSION_EVENTS else []
    return [e.as_dict() for e in earlier + current]


async def one_turn(store, domain: Domain, sender: str) -> float:
    started = time.perf_counter()
    tracker = await store.retrieve(sender)
    tracker.update_with_events(exchange(time.time(), "where is my order?"), domain)
    await store.save(tracker)
    return (time.perf_counter() - started) * 1000


async def run(url: str) -> Dict[str, Dict[str, dict]]:
    domain = Domain.load(str(PROJECT_DIR / "domain.yml"))
    raw = redis.Redis.from_url(url)
    ours = CustomerTrackerStore(domain=domain, host=url)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    rasa = RedisTrackerStore(domain, host="127.0.0.1", port=port, key_prefix="rasa")

    templates: Dict[int, Dict[str, List[str]]] = {}
    for size in SIZES:
        events = history(size)
        await ours.rewrite_history(f"tpl{size}", events)
        raw.set(f"{rasa.key_prefix}tpl{size}", json.dumps({"name": f"tpl{size}", "events": events}))
        templates[size] = {
            "threadline": [*ours.log.keys_for(f"tpl{size}")[:3], ours.log.turns_key(f"tpl{size}")],
            "rasa_redis": [f"{rasa.key_prefix}tpl{size}"],
        }
        assert len(await ours.read_history(f"tpl{size}")) == size

    def fresh_copy(store_name: str, size: int) -> None:
        target = {"threadline": [*ours.log.keys_for(SENDER)[:3], ours.log.turns_key(SENDER)], "rasa_redis": [f"{rasa.key_prefix}{SENDER}"]}[store_name]
        for source, destination in zip(templates[size][store_name], target):
            raw.copy(source, destination, replace=True)

    stores = {"threadline": ours, "rasa_redis": rasa}
    timings: Dict[str, Dict[int, List[float]]] = {name: {size: [] for size in SIZES} for name in stores}
    for name, store in stores.items():
        for sample in range(WARMUP + SAMPLES[name]):
            for size in SIZES:
                fresh_copy(name, size)
                elapsed = await one_turn(store, domain, SENDER)
                if sample >= WARMUP:
                    timings[name][size].append(elapsed)
    await ours.close()

    return {
        name: {str(size): summary(values) for size, values in per_size.items()}
        for name, per_size in timings.items()
    }


def summary(values: List[float]) -> dict:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "samples": len(ordered),
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"threadline": "CustomerTrackerStore (ours)", "rasa_redis": "Rasa RedisTrackerStore"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {"threadline": "tab:blue", "rasa_redis": "tab:red"}
    for name, per_size in results.items():
        medians = [per_size[str(s)]["median_ms"] for s in SIZES]
        p95 = [per_size[str(s)]["p95_ms"] for s in SIZES]
        ax.plot(SIZES, medians, marker="o", color=colors[name], label=f"{labels[name]} median")
        ax.plot(SIZES, p95, linestyle="--", alpha=0.6, color=colors[name], label=f"{labels[name]} p95")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prior events in the customer's history")
    ax.set_ylabel("one turn: retrieve + save (ms)")
    ax.set_title("Per-turn tracker cost vs history length (current session: 20 events)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    server = RedisServer()
    try:
        results = asyncio.run(run(server.url))
    finally:
        server.stop()
    ours, theirs = results["threadline"], results["rasa_redis"]
    growth = ours["10000"]["median_ms"] / ours["20"]["median_ms"]
    rasa_vs_ours = theirs["10000"]["median_ms"] / ours["10000"]["median_ms"]
    report = {
        "benchmark": "tracker store per-turn cost (retrieve + save of one exchange)",
        "method": __doc__.split("\n\n")[1].replace("\n", " ") + " " + __doc__.split("\n\n")[2].replace("\n", " "),
        "sizes": SIZES,
        "current_session_events": CURRENT_SESSION_EVENTS,
        "results": results,
        "ours_10000_over_ours_20": round(growth, 3),
        "rasa_10000_over_ours_10000": round(rasa_vs_ours, 1),
        "targets": {"ours_10000_over_ours_20_max": 1.25, "rasa_10000_over_ours_10000_min": 10},
        "targets_met": growth <= 1.25 and rasa_vs_ours >= 10,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "tracker.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, OUT_DIR / "tracker.png")
    print(
        f"bench-tracker: ours median {ours['20']['median_ms']:.2f} ms @20 -> {ours['10000']['median_ms']:.2f} ms "
        f"@10k ({growth:.2f}x, target <=1.25x); Rasa RedisTrackerStore {theirs['10000']['median_ms']:.0f} ms "
        f"@10k ({rasa_vs_ours:.0f}x ours, target >=10x); {'targets met' if report['targets_met'] else 'TARGETS MISSED'}"
    )
    return 0 if report["targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
