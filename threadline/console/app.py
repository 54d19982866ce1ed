"""The console's aiohttp application: routes, middlewares and what the handlers share."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from threadline.console import actions, customers, insights, live, views
from threadline.console.rendering import environments
from threadline.console.proxies import TrustedProxies
from threadline.console.security import pick_language, require_csrf, require_login, security_headers
from threadline.console.sessions import MAX_AGE_S, SessionStore
from threadline.console.state import CONSOLE, Console
from threadline.crm import Database
from threadline.handoff.rasa_api import RasaApi
from threadline.insights.csat import OptedOut

STATIC = Path(__file__).resolve().parent / "static"


def console_app(db: Database, redis: Redis, rasa: RasaApi, opted_out: OptedOut, *, poll_s: float = 1.0, session_check_s: float = 30.0,
                proxies: TrustedProxies = TrustedProxies(), sessions: SessionStore | None = None) -> web.Application:
    app = web.Application(middlewares=[security_headers, require_login, pick_language, require_csrf],
                          client_max_size=64 * 1024)
    sessions = sessions or SessionStore(redis, max_age_s=MAX_AGE_S)
    app[CONSOLE] = console = Console(db, redis, sessions, rasa, opted_out, environments(), poll_s, session_check_s, proxies)
    app.router.add_get("/health", views.health)
    app.router.add_get("/login", views.login_page)
    app.router.add_post("/login", views.login)
    app.router.add_post("/logout", views.logout)
    app.router.add_post("/language", views.choose_language)
    app.router.add_get("/", views.queue)
    app.router.add_get("/handoffs/{handoff_id}", views.conversation)
    app.router.add_post("/handoffs/{handoff_id}/{action}", actions.handoff_action)
    app.router.add_get("/insights", insights.insights_page)
    app.router.add_get("/insights/rows/{metric}", insights.metric_rows)
    app.router.add_post("/insights/export/{metric}", insights.export_csv)
    app.router.add_get("/customers", customers.customers_page)
    app.router.add_get("/customers/{customer_id}", customers.customer_page)
    app.router.add_post("/customers/{customer_id}/cases/{case_id}/resolve", actions.resolve_case)
    app.router.add_get("/events/queue", live.queue_events)
    app.router.add_get("/events/handoffs/{handoff_id}", live.conversation_events)
    app.router.add_static("/static/", STATIC)

    async def on_shutdown(_app: web.Application) -> None:
        # Live streams end at their next tick; a browser that went away is not waited for
        # by aiohttp itself, so wait for those streams here.
        console.stopping.set()
        if console.streams:
            await asyncio.wait(set(console.streams), timeout=5)

    app.on_shutdown.append(on_shutdown)
    return app
