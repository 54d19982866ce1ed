"""`make bench-insights`: Insights page data from the incremental aggregates at scale (issue #17).

A generated operation (default 100,000 customers, 1,000,000 messages over the 60 days to
2026-11-30) is bulk-inserted into a CRM on SQLite and on a throwaway PostgreSQL the bench starts
itself; the aggregates are rebuilt from the rows (`bin/threadline metrics --rebuild-aggregates`)
and the cycle facts filled once (what the first page view after a rebuild does); then:

- page data: `aggregated_metrics` (all 17 metrics, the refresh of changed customers included)
  for the 30 local days of November, `--runs` times: median, p95 (target: under 500 ms);
- update cost: new conversations written through the timeline consumer's write
  (`SqlCrm.record_interactions`), the time spent keeping the aggregates per message, the whole
  write per message with and without them, and the refresh the next page view runs, per message.

`--customers/--messages` set a smaller size; `--databases sqlite|postgresql` one of them (the
other database's figures in an existing insights.json of the same size are kept, with their
date and notes); `BENCH_OUT_DIR` another output directory; results/bench/insights.json records
the size run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sqlalchemy import func, select

from threadline.crm import Database
from threadline.crm import sql_backend
from threadline.crm.interface import InteractionRecord
from threadline.crm.models import Customer, Interaction
from threadline.crm.sql_backend import SqlCrm
from threadline.insights.aggregates import AGGREGATED, aggregated_metrics, rebuild_aggregates
from threadline.insights.cycle_facts import refresh_cycle_facts
from threadline.insights.metrics import InsightsConfig
from threadline.insights.business_hours import BusinessHours
from threadline.settings import PROJECT_DIR

OUT_DIR = Path(os.environ.get("BENCH_OUT_DIR") or PROJECT_DIR / "results" / "bench")
HOURS = BusinessHours.parse("mon-fri 09:00-18:00", "America/Sao_Paulo")
CONFIG = InsightsConfig(hours=HOURS)
AS_OF = datetime(2026, 12, 2, 12)  # the page's "now": after every generated row
END = date(2026, 11, 30)
DAYS = 60
CHANNELS = ("whatsapp", "whatsapp", "whatsapp", "instagram", "sms", "rcs", "email", "webchat")
TARGET_MS = 500.0
CHUNK = 2_000  # customers per insert batch


def conversation(rng: random.Random, customer_id: str, start: datetime, serial: List[int]) -> List[dict]:
    """One burst of messages: the customer writes, the bot answers, sometimes an agent."""
    channel = rng.choice(CHANNELS)
    rows, at = [], start
    for turn in range(rng.randint(1, 3)):
        for author in ("customer", "bot") if turn or rng.random() > 0.05 else ("customer",):
            serial[0] += 1
            rows.append({"customer_id": customer_id, "author": author, "channel": channel,
                         "text": f"{author} message", "entities": "[]", "occurred_at": at, "created_at": at,
                         "intent": "order_status" if author == "customer" else None,
                         "response": None, "idempotency_key": f"bench:{serial[0]}"})
            at += timedelta(seconds=rng.randint(2, 90))
    if rng.random() < 0.1:
        serial[0] += 1
        rows.append({"customer_id": customer_id, "author": "agent", "channel": channel, "text": "agent message",
                     "entities": "[]", "occurred_at": at + timedelta(minutes=rng.randint(1, 240)),
                     "created_at": at, "intent": None, "response": None, "idempotency_key": f"bench:{serial[0]}"})
    return rows


def generate(database: Database, customers: int, messages: int, seed: int = 17) -> Dict[str, float]:
    rng = random.Random(seed)
    per_customer = messages / customers
    first = datetime.combine(END - timedelta(days=DAYS - 1), datetime.min.time()) + timedelta(hours=3)
    serial, written, started = [0], 0, time.perf_counter()
    for base in range(0, customers, CHUNK):
        people, rows = [], []
        for n in range(base, min(customers, base + CHUNK)):
            customer_id = f"cus_bench_{n:07d}"
            people.append({"id": customer_id, "created_at": first})
            budget = max(1, round(rng.expovariate(1 / per_customer)))
            while budget > 0:
                at = first + timedelta(seconds=rng.randint(0, DAYS * 86400 - 1))
                burst = conversation(rng, customer_id, at, serial)[:budget]
                rows.extend(burst)
                budget -= len(burst)
        remaining = messages - written
        rows = rows[:max(0, remaining)] if base + CHUNK >= customers else rows[:remaining]
        with database.engine.begin() as connection:
            connection.execute(Customer.__table__.insert(), people)
            if rows:
                connection.execute(Interaction.__table__.insert(), rows)
        written += len(rows)
    while written < messages:  # the random budgets fell short: top up with conversations of anyone
        rows = []
        while len(rows) < min(CHUNK * 10, messages - written):
            at = first + timedelta(seconds=rng.randint(0, DAYS * 86400 - 1))
            rows.extend(conversation(rng, f"cus_bench_{rng.randrange(customers):07d}", at, serial))
        rows = rows[:messages - written]
        with database.engine.begin() as connection:
            connection.execute(Interaction.__table__.insert(), rows)
        written += len(rows)
    return {"messages": written, "customers": customers, "seconds": round(time.perf_counter() - started, 1)}


def page_data(database: Database, runs: int) -> Dict[str, float]:
    first, last = date(2026, 11, 1), END
    timings, value = [], None
    for i in range(runs):
        channel = None if i % 2 == 0 else "whatsapp"
        started = time.perf_counter()
        metrics = aggregated_metrics(database, first, last, channel, as_of=AS_OF, config=CONFIG)
        timings.append((time.perf_counter() - started) * 1000)
        if channel is None:
            value = metrics["volume_by_channel"].value
    ordered = sorted(timings)
    return {"runs": runs, "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 2),
            "max_ms": round(ordered[-1], 2), "cycles_in_range": value, "_samples": timings}


async def update_cost(database: Database, conversations: int, keep: bool) -> Dict[str, float]:
    """Write `conversations` new conversations of existing customers through the consumer's write."""
    rng = random.Random(99 if keep else 98)
    crm = SqlCrm(database)
    spent = [0.0]
    real = sql_backend.record_messages

    def timed(session, messages, zone=None):
        started = time.perf_counter()
        if keep:
            real(session, messages, HOURS.zone)
        spent[0] += time.perf_counter() - started

    sql_backend.record_messages = timed
    count = database.transaction(lambda s: s.scalar(select(func.count()).select_from(Customer)))
    serial, messages, started = [10_000_000 if keep else 20_000_000], 0, time.perf_counter()
    try:
        for _ in range(conversations):
            customer_id = f"cus_bench_{rng.randrange(count):07d}"
            at = datetime(2026, 12, 1, 12) + timedelta(seconds=rng.randint(0, 86_000))
            rows = conversation(rng, customer_id, at, serial)
            records = [InteractionRecord(r["customer_id"], r["author"], r["channel"], r["text"], r["occurred_at"],
                                         r["idempotency_key"], intent=r["intent"]) for r in rows]
            messages += await crm.record_interactions(records)
    finally:
        sql_backend.record_messages = real
    total = time.perf_counter() - started
    refreshed = time.perf_counter()
    customers = refresh_cycle_facts(database, HOURS) if keep else 0  # what the next page view does first
    refresh_s = time.perf_counter() - refreshed
    return {"conversations": conversations, "messages": messages, "customers_refreshed": customers,
            "refresh_ms_per_message": round(refresh_s * 1000 / messages, 3) if keep else 0.0,
            "write_ms_per_message": round(total * 1000 / messages, 3),
            "aggregates_ms_per_message": round(spent[0] * 1000 / messages, 3) if keep else 0.0}


def run(url: str, customers: int, messages: int, runs: int, conversations: int) -> dict:
    database = Database(url)
    try:
        made = generate(database, customers, messages)
        started = time.perf_counter()
        rebuilt = rebuild_aggregates(database, HOURS.zone)
        rebuild_s = time.perf_counter() - started
        started = time.perf_counter()
        facts = refresh_cycle_facts(database, HOURS)  # every customer's cycle facts, once
        facts_s = time.perf_counter() - started
        page_data(database, 3)  # warm the connection pool and caches
        page = page_data(database, runs)
        without = asyncio.run(update_cost(database, conversations, keep=False))
        with_aggregates = asyncio.run(update_cost(database, conversations, keep=True))
        return {"generated": made, "rebuild": {"messages": rebuilt, "seconds": round(rebuild_s, 1),
                                               "us_per_message": round(rebuild_s * 1e6 / max(1, rebuilt), 1)},
                "cycle_facts_first_fill": {"customers": facts, "seconds": round(facts_s, 1),
                                           "us_per_message": round(facts_s * 1e6 / max(1, rebuilt), 1)},
                "page_data_30_days": page, "update_with_aggregates": with_aggregates,
                "update_without_aggregates": without,
                "aggregate_overhead_ms_per_message": round(
                    with_aggregates["write_ms_per_message"] - without["write_ms_per_message"], 3)}
    finally:
        database.dispose()


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    names = list(results)
    for i, name in enumerate(names):
        page = results[name]["page_data_30_days"]
        left.bar([i - 0.2], [page["median_ms"]], width=0.4, color="tab:blue", label="median" if not i else None)
        left.bar([i + 0.2], [page["p95_ms"]], width=0.4, color="tab:orange", label="p95" if not i else None)
    left.axhline(TARGET_MS, color="red", linestyle="--", linewidth=1, label=f"target {TARGET_MS:.0f} ms")
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names)
    left.set_ylabel("ms")
    left.set_title("page data, 30-day range (aggregates)")
    left.legend()
    for i, name in enumerate(names):
        r = results[name]
        right.bar([i - 0.2], [r["update_without_aggregates"]["write_ms_per_message"]], width=0.4, color="tab:gray",
                  label="write without aggregates" if not i else None)
        right.bar([i + 0.2], [r["update_with_aggregates"]["write_ms_per_message"]], width=0.4, color="tab:green",
                  label="write with aggregates" if not i else None)
    right.set_xticks(range(len(names)))
    right.set_xticklabels(names)
    right.set_ylabel("ms per message (timeline consumer's write)")
    right.set_title("aggregate update cost")
    right.legend()
    size = next(iter(results.values()))["generated"]
    fig.suptitle(f"Insights at {size['customers']:,} customers / {size['messages']:,} messages")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _kept_results(path: Path, args: argparse.Namespace, ran: set) -> Dict[str, Tuple[dict, str]]:
    """The figures of databases not run this time, from an earlier report of the same size."""
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    setup = earlier.get("setup", {})
    if (setup.get("customers"), setup.get("messages")) != (args.customers, args.messages):
        return {}
    when = setup.get("date", "an earlier run")
    return {name: (figures, f"{name}: kept from the run of {when} (not re-run)")
            for name, figures in earlier.get("results", {}).items() if name not in ran}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-insights")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="page-data runs per database")
    parser.add_argument("--conversations", type=int, default=300, help="conversations written for the update cost")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results: Dict[str, dict] = {}
    notes: List[str] = []
    wanted = args.databases.split(",")
    if "sqlite" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = run(f"sqlite:///{tmp}/crm.sqlite3", args.customers, args.messages, args.runs,
                                    args.conversations)
    if "postgresql" in wanted:
        from tests.support.crm_database import start_postgres

        postgres, why = start_postgres()
        if postgres is None:
            notes.append(why)
        else:
            try:
                results["postgresql"] = run(postgres.url, args.customers, args.messages, args.runs,
                                            args.conversations)
            finally:
                postgres.drop()
    kept = _kept_results(OUT_DIR / "insights.json", args, set(results))
    for name, (figures, note) in kept.items():
        results[name] = figures
        notes.append(note)
    results = {name: results[name] for name in ("sqlite", "postgresql") if name in results}
    plot(results, OUT_DIR / "insights.png")
    report = {
        "setup": {"customers": args.customers, "messages": args.messages, "days": DAYS, "range": "2026-11-01..2026-11-30",
                  "runs": args.runs, "conversations": args.conversations, "target_ms": TARGET_MS,
                  "aggregated_metrics": list(AGGREGATED), "date": date.today().isoformat(),
                  "python": platform.python_version(), "notes": notes},
        "results": {b: {k: ({kk: vv for kk, vv in v.items() if not kk.startswith("_")} if isinstance(v, dict) else v)
                        for k, v in r.items()} for b, r in results.items()},
    }
    (OUT_DIR / "insights.json").write_text(json.dumps(report, indent=2))
    print("bench-insights: " + "; ".join(
        f"{b} ({r['generated']['messages']:,} messages): page data median {r['page_data_30_days']['median_ms']} ms, "
        f"p95 {r['page_data_30_days']['p95_ms']} ms; aggregates {r['update_with_aggregates']['aggregates_ms_per_message']} "
        f"ms/message + refresh {r['update_with_aggregates']['refresh_ms_per_message']} ms/message"
        for b, r in results.items()))


if __name__ == "__main__":
    main()
