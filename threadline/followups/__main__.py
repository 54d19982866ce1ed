"""`python -m threadline.followups`: the follow-up worker (issue #18, docs/followups.md).

Every FOLLOWUPS_INTERVAL_S seconds (default 60) it runs one pass of the schedule (run.py) on the
system clock; in between, every FOLLOWUPS_EVENTS_INTERVAL_S (default 5), a pass for the customers
who wrote, were answered or whose lead moved since (events.py). Health: GET /health on 127.0.0.1:FOLLOWUPS_PORT (default 5052) with the last pass.
Several may run at once: each due item's row in the CRM has one owner. Refuses to start, naming
file and line, when data/followups.yml (or FOLLOWUPS_RULES) is wrong. Needs REDIS_URL (the
channels' opt-out records), the CRM database and the Rasa HTTP API; `make run` sets them all.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any, Dict

from aiohttp import web

from connectors.webhook.records import ChannelRecords
from threadline.conversation.redis_connection import connect
from threadline.crm import Database
from threadline.followups.alerts import ConsoleAlert
from threadline.followups.clock import SystemClock
from threadline.followups.events import CustomerChanges, keep_passing
from threadline.followups.messages import load_responses
from threadline.followups.rules import DEFAULT_PATH, RulesError, load_rules
from threadline.followups.run import RunFollowUps
from threadline.handoff.rasa_api import RasaApi, RasaApiError
from threadline.insights.business_hours import BusinessHours, BusinessHoursError
from threadline.quiet import quiet_library_warnings
from threadline.settings import DEFAULT_FOLLOWUPS_PORT

log = logging.getLogger("threadline.followups")
DEFAULT_INTERVAL_S = 60.0
DEFAULT_EVENTS_INTERVAL_S = 5.0  # how soon a customer's news (a message, a stage change) is looked at


def rules_path() -> Path:
    return Path(os.environ.get("FOLLOWUPS_RULES", "").strip() or DEFAULT_PATH)


async def serve(port: int, interval_s: float, events_interval_s: float) -> None:
    try:
        rules = load_rules(rules_path())
        zone = BusinessHours.from_env().zone
        rasa = RasaApi.from_env()
    except (RulesError, BusinessHoursError, RasaApiError) as error:
        raise SystemExit(f"followups: {error}. Refusing to start.")
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        raise SystemExit("followups: REDIS_URL is not set (make run sets it)")
    db = await asyncio.to_thread(Database.from_env)
    redis = connect(redis_url)
    responses = load_responses()
    records = ChannelRecords(redis)
    run = RunFollowUps(db, rasa, rules, SystemClock(), zone, opted_out=records.opted_out,
                       alert=ConsoleAlert(db, responses), responses=responses, refusal=records.refusal)
    status: Dict[str, Any] = {"status": "ok", "passes": 0, "event_passes": 0, "last_pass_at": None,
                              "last_error": None}

    async def health(_request: web.Request) -> web.Response:
        return web.json_response(status)

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("followups: rules from %s, a pass every %.0fs (for customers with news every %.0fs), "
             "health on http://127.0.0.1:%d/health", rules.source, interval_s, events_interval_s, port)
    try:
        await keep_passing(run, CustomerChanges(db), interval_s, events_interval_s, stop, status)
    finally:
        await runner.cleanup()
        await redis.close(close_connection_pool=True)
        db.dispose()


def main() -> None:
    quiet_library_warnings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(int(os.environ.get("FOLLOWUPS_PORT", DEFAULT_FOLLOWUPS_PORT)),
                      float(os.environ.get("FOLLOWUPS_INTERVAL_S", DEFAULT_INTERVAL_S)),
                      float(os.environ.get("FOLLOWUPS_EVENTS_INTERVAL_S", DEFAULT_EVENTS_INTERVAL_S))))


if __name__ == "__main__":
    main()
