"""`make bench-identity`: what identity resolution adds to each inbound message.

Scenarios, each timed around `IdentityResolver.resolve()` as a connector calls it:
- known: an existing customer writes again on the channel they used last (the usual case:
  one Redis round trip, no CRM access);
- switch: an existing customer alternates WhatsApp and SMS (the route changes, so the CRM
  mirror is written too);
- first: a new phone writes for the first time (the CRM creates the customer).
Plus a bare Redis PING for scale. Runs against a private redis-server and a SQLite CRM
file (the default setup), and a throwaway PostgreSQL database when one is reachable.

Writes results/bench/identity.json and results/bench/identity.png, prints one summary line.
The target is a median under 2 ms for `known`.
"""
from __future__ import annotations

import json
import platform
import random
import statistics
import time
from bench.databases import run_on_both_databases
from pathlib import Path

from threadline.crm import Database
from threadline.identity.index import IdentityIndex
from threadline.identity.resolver import IdentityResolver
from threadline.settings import PROJECT_DIR

CUSTOMERS = 1000
SAMPLES = {"known": 3000, "switch": 200, "first": 200}
TARGET_MS = 2.0
OUT_DIR = PROJECT_DIR / "results" / "bench"


def phone(n: int) -> str:
    return f"55119{n:08d}"


def summary(samples: list) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"n": len(samples), "median_ms": statistics.median(samples), "p95_ms": pick(0.95),
            "p99_ms": pick(0.99), "mean_ms": statistics.fmean(samples)}


async def timed(call) -> float:
    start = time.perf_counter()
    await call
    return (time.perf_counter() - start) * 1000


async def run_backend(crm_url: str, redis_url: str) -> dict:
    resolver = IdentityResolver(Database(crm_url), IdentityIndex.from_url(redis_url))
    rng = random.Random(7)
    for n in range(CUSTOMERS):
        await resolver.resolve("whatsapp", phone(n))
    results = {}

    ping = [await timed(resolver.index.client.ping()) for _ in range(SAMPLES["known"])]
    results["redis_ping"] = summary(ping)

    known = []
    for _ in range(SAMPLES["known"]):
        known.append(await timed(resolver.resolve("whatsapp", phone(rng.randrange(CUSTOMERS)))))
    results["known"] = summary(known)

    switch = []
    for i in range(SAMPLES["switch"]):
        n = i % 50  # 50 customers, each alternating channels
        if i // 50 % 2 == 0:
            switch.append(await timed(resolver.resolve("sms", "+" + phone(n))))
        else:
            switch.append(await timed(resolver.resolve("whatsapp", phone(n))))
    results["switch"] = summary(switch)

    first = [await timed(resolver.resolve("sms", "+" + phone(CUSTOMERS + i))) for i in range(SAMPLES["first"])]
    results["first"] = summary(first)
    results["_samples"] = {"known": known, "switch": switch, "first": first, "redis_ping": ping}
    await resolver.close()
    return results


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(results)
    scenarios = ["redis_ping", "known", "switch", "first"]
    fig, axes = plt.subplots(1, len(backends), figsize=(6 * len(backends), 4.5), squeeze=False)
    for ax, backend in zip(axes[0], backends):
        data = [results[backend]["_samples"][s] for s in scenarios]
        ax.boxplot(data, labels=scenarios, showfliers=False, whis=(5, 95))
        for i, s in enumerate(scenarios, start=1):
            ax.annotate(f"{results[backend][s]['median_ms']:.2f}", (i, results[backend][s]["median_ms"]),
                        textcoords="offset points", xytext=(18, 0), fontsize=8)
        ax.axhline(TARGET_MS, color="red", linestyle="--", linewidth=1, label="2 ms target (known)")
        ax.set_yscale("log")
        ax.set_ylabel("ms per resolve (log; box 25-75%, whiskers 5-95%)")
        ax.set_title(f"identity resolution, CRM on {backend}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results, notes = run_on_both_databases(run_backend)

    plot(results, OUT_DIR / "identity.png")
    report = {
        "target": {"scenario": "known", "median_ms_below": TARGET_MS},
        "setup": {"customers": CUSTOMERS, "samples": {k: v for k, v in SAMPLES.items()},
                  "redis": "private redis-server on loopback", "python": platform.python_version(),
                  "machine": platform.machine(), "notes": notes},
        "results": {b: {k: v for k, v in r.items() if not k.startswith("_")} for b, r in results.items()},
        "passed": all(r["known"]["median_ms"] < TARGET_MS for r in results.values()),
    }
    (OUT_DIR / "identity.json").write_text(json.dumps(report, indent=2))
    parts = [f"{b}: known median {r['known']['median_ms']:.3f} ms (p95 {r['known']['p95_ms']:.3f}), "
             f"switch {r['switch']['median_ms']:.2f} ms, first contact {r['first']['median_ms']:.2f} ms"
             for b, r in results.items()]
    verdict = "PASS" if report["passed"] else "FAIL"
    print(f"bench-identity {verdict} (target: known median < {TARGET_MS} ms): " + "; ".join(parts))


if __name__ == "__main__":
    main()
