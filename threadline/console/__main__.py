"""`python -m threadline.console`: the agent console on CONSOLE_PORT (default 5050).

Needs REDIS_URL (sessions), the CRM database (CRM_DATABASE_URL) and the Rasa server's HTTP
API (RASA_PORT, RASA_AUTH_TOKEN) to send agent replies; `make run` sets all of them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from connectors.webhook.records import ChannelRecords
from threadline.console.app import console_app
from threadline.console.proxies import TrustedProxies, parse_networks
from threadline.console.sessions import SessionStore
from threadline.conversation.redis_connection import connect
from threadline.crm import Database
from threadline.handoff.rasa_api import RasaApi, RasaApiError
from threadline.quiet import quiet_library_warnings
from threadline.settings import Settings

log = logging.getLogger("threadline.console")


async def serve(host: str, settings: Settings) -> None:
    proxies = TrustedProxies(parse_networks(settings.console_trusted_proxies))
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        raise SystemExit("console: REDIS_URL is not set (make run sets it)")
    try:
        rasa = RasaApi.from_env()
    except RasaApiError as error:
        raise SystemExit(f"console: {error}")
    db = await asyncio.to_thread(Database.from_env)
    redis = connect(redis_url)
    sessions = SessionStore(redis, max_age_s=settings.console_session_max_age_s)
    runner = web.AppRunner(console_app(db, redis, rasa, ChannelRecords(redis).opted_out, proxies=proxies, sessions=sessions), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, settings.console_port).start()
    log.info("console: http://%s:%d/", host, settings.console_port)
    if proxies.networks:
        log.info("console: forwarding headers believed from %s (CONSOLE_TRUSTED_PROXIES)",
                 ", ".join(map(str, proxies.networks)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await redis.close(close_connection_pool=True)
        db.dispose()


def main() -> None:
    quiet_library_warnings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    asyncio.run(serve(os.environ.get("CONSOLE_HOST", "127.0.0.1"), settings))


if __name__ == "__main__":
    main()
