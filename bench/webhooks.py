"""`make bench-webhooks`: how fast do the webhooks acknowledge while the bot is busy?

Starts a private Redis, the sandbox provider, the real Rasa server (credentials.yml,
endpoints.yml, trained model; it only acknowledges) and the inbox worker process that runs the
bot's turns, as `make run` does, then sends correctly signed webhook deliveries (WhatsApp 50 %,
Instagram 25 %, SMS 25 %; 200 customers) at a fixed rate (open loop: a slow answer does not
slow the sender down) and measures each acknowledgement. Every delivery is a new customer
message, so the worker keeps processing turns (and sending replies through the sandbox, whose
receipts come back as more webhooks) for the whole run. The machine's load average before and
after the run is recorded with the figures: on a shared machine it explains the tail.

Writes results/bench/webhooks.json and results/bench/webhooks.png and prints one line.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import aiohttp
from redis.asyncio import Redis

from bench.rasa_stack import RasaStack
from connectors.webhook.inbox import backlog as inbox_backlog
from threadline.sandbox import payloads as p
from tests.support.redis_server import RedisServer

RESULTS = Path(__file__).resolve().parents[1] / "results" / "bench"
TARGET_P99_MS = 25.0
WARM_UP_MESSAGES = 40


def deliveries(stack: RasaStack, count: int) -> List[Tuple[str, p.Delivery]]:
    """Signed in advance, so signing does not count in the measured time."""
    env, out = stack.env, []
    for n in range(count):
        customer = n % 200
        roll = random.random()
        if roll < 0.5:
            wa_id = f"55119{customer:08d}"
            message = p.whatsapp_message("text", wa_id, {"body": random.choice(["hi", "hello", "thanks", "bye"])})
            envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [message],
                                           contacts=[p.whatsapp_contact(wa_id, f"Customer {customer}")])
            out.append(("whatsapp", p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)))
        elif roll < 0.75:
            item = p.instagram_item(f"178414{customer:010d}", env["INSTAGRAM_ACCOUNT_ID"],
                                    message={"mid": p.new_ig_mid(), "text": "hey there"})
            out.append(("instagram", p.meta_delivery(env["INSTAGRAM_APP_SECRET"],
                                                     p.instagram_envelope(env["INSTAGRAM_ACCOUNT_ID"], [item]))))
        else:
            params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], f"+1555{customer:07d}", env["TWILIO_FROM_NUMBER"], "hello")
            out.append(("sms", p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params)))
    return out


async def run_load(stack: RasaStack, rate: float, duration: float) -> dict:
    planned = deliveries(stack, int(rate * duration))
    results: List[Tuple[float, float, int]] = []  # (offset s, latency ms, status)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm up the routes and the bot (its first turns trace TensorFlow functions, which
        # holds the GIL for seconds): a server in production has long done this.
        warm_up = deliveries(stack, WARM_UP_MESSAGES)
        for channel, delivery in warm_up:
            async with session.post(f"{stack.base}/webhooks/{channel}/webhook", data=delivery.body,
                                    headers=delivery.headers) as response:
                await response.read()
        if not stack.idle_bot:
            await wait_for_replies(stack, WARM_UP_MESSAGES)
        redis = Redis.from_url(stack.env["REDIS_URL"])
        await redis.slowlog_reset()  # from here on, only what happens while measuring
        await redis.close()

        async def one(offset: float, channel: str, delivery: p.Delivery) -> None:
            started = time.perf_counter()
            try:
                async with session.post(f"{stack.base}/webhooks/{channel}/webhook", data=delivery.body,
                                        headers=delivery.headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            results.append((offset, (time.perf_counter() - started) * 1000, status))

        cpu_before = processes_cpu_s(stack)
        # The load generator must not pause itself: no garbage collection while measuring.
        gc.collect()
        gc.freeze()
        gc.disable()
        t0 = time.perf_counter()
        tasks = []
        for index, (channel, delivery) in enumerate(planned):
            offset = index / rate
            delay = t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(offset, channel, delivery)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        cpu_after = processes_cpu_s(stack)
        gc.enable()
    cpu = {name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_after}
    return {"results": results, "elapsed": elapsed, "cpu_s": cpu}


def processes_cpu_s(stack: RasaStack) -> dict:
    """CPU seconds (user + system) used so far by the server and the worker (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, process in (("rasa_server", stack.rasa), ("inbox_worker", stack.worker)):
        if process is not None and process.poll() is None:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


async def wait_for_replies(stack: RasaStack, count: int, timeout_s: float = 300) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    deadline = time.monotonic() + timeout_s
    try:
        while len(await redis.keys("tl:out:msg:*")) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        for key in await redis.keys("tl:out:msg:*"):  # count only replies sent during the run
            await redis.delete(key)
    finally:
        await redis.close()


async def bot_progress(stack: RasaStack) -> dict:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        backlog = {ch: await inbox_backlog(redis, ch) for ch in ("whatsapp", "instagram", "sms")}
        # Commands slower than 10 ms during the run would stall every acknowledgement behind them.
        slow = [(entry["duration"], entry["command"][:40].decode(errors="replace"))
                for entry in await redis.slowlog_get(5)]
        replies = len(await redis.keys("tl:out:msg:*"))
    finally:
        await redis.close()
    return {"inbox_backlog": backlog, "replies_sent": replies, "redis_slowlog_us": slow}


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def plot(results, summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offsets = [r[0] for r in results]
    latencies = [r[1] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.scatter(offsets, latencies, s=3, alpha=0.5)
    left.axhline(TARGET_P99_MS, color="red", linestyle="--", label=f"target p99 {TARGET_P99_MS:.0f} ms")
    left.axhline(summary["p99_ms"], color="orange", label=f"p99 {summary['p99_ms']:.1f} ms")
    left.set(xlabel="time into run (s)", ylabel="acknowledgement latency (ms)",
             title=f"Webhook acks at {summary['rate_per_s']:.0f} req/s, {summary['bot']}")
    left.set_yscale("log")
    left.legend()
    right.hist(latencies, bins=100)
    right.set(xlabel="latency (ms)", ylabel="requests", title="distribution")
    for q, color in ((50, "green"), (99, "orange")):
        right.axvline(summary[f"p{q}_ms"], color=color, label=f"p{q} {summary[f'p{q}_ms']:.1f} ms")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--idle-bot", action="store_true",
                        help="baseline: a bot that does no work, to see the webhook path alone")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    redis_server = RedisServer()
    stack = RasaStack(redis_server.url, Path(tempfile.mkdtemp(prefix="bench-webhooks-")), idle_bot=args.idle_bot)
    try:
        stack.start()
        run = asyncio.run(run_load(stack, args.rate, args.duration))
        progress = asyncio.run(bot_progress(stack))
    finally:
        stack.stop()
        redis_server.stop()
    results = run["results"]
    latencies = [r[1] for r in results]
    statuses = {}
    for _, _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    summary = {
        "bot": "idle bot (baseline)" if args.idle_bot else "Rasa busy",
        "rate_per_s": args.rate, "duration_s": args.duration, "requests": len(results),
        "achieved_rate_per_s": round(len(results) / run["elapsed"], 1),
        "status_counts": statuses,
        "p50_ms": round(percentile(latencies, 50), 2), "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "target_p99_ms": TARGET_P99_MS,
        "bot_while_measuring": progress,
        # CPU the processes got during the measured 30 s: the server's share per request,
        # and how much the (niced) worker could still run beside everything else.
        "cpu_s_while_measuring": run["cpu_s"],
        "setup": "real Rasa server acknowledging (only) + inbox worker "
                 "process running the turns (trained model, Redis tracker/lock stores) + sandbox provider "
                 "subprocess, loopback, one Sanic worker, 200 customers, every delivery a new message",
    }
    summary["target_met"] = summary["p99_ms"] < TARGET_P99_MS and statuses.get("200", 0) == len(results)
    name = "webhooks-idle-bot" if args.idle_bot else "webhooks"
    if args.idle_bot:
        summary["setup"] = "baseline: scripted bot server accepting, no inbox worker; otherwise as the main run"
    summary["machine_load_average_1_5_15_min_before"] = load_before
    summary["machine_load_average_1_5_15_min"] = [round(x, 2) for x in os.getloadavg()]
    summary["cpu_count"] = os.cpu_count()
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    # Every run, not only the last: on a shared machine one quiet run is not the norm.
    with open(RESULTS / "webhooks-runs.jsonl", "a") as runs:
        runs.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run": name,
                               **{k: v for k, v in summary.items() if k != "setup"}}) + "\n")
    plot(results, summary, RESULTS / f"{name}.png")
    print(f"bench-{name}: {len(results)} deliveries at {summary['achieved_rate_per_s']}/s, "
          f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms (target < {TARGET_P99_MS:.0f} ms: "
          f"{'met' if summary['target_met'] else 'NOT met'}), non-200: "
          f"{len(results) - statuses.get('200', 0)}, replies sent during run: {progress['replies_sent']}")


if __name__ == "__main__":
    main()
