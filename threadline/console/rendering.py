"""Jinja2 templates (autoescaped) and the few filters they use."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import jinja2
from aiohttp import web
from threadline.console.state import CONSOLE, console_of
from threadline.handoff.rendering import channel_label, moment_label
from threadline.sandbox.modes import sandboxed

TEMPLATES = Path(__file__).resolve().parent / "templates"


def waited(since: Optional[datetime]) -> str:
    """How long ago, as an agent reads it: "just now", "12 min", "3 h 5 min", "2 d"."""
    if since is None:
        return ""
    seconds = (datetime.now(timezone.utc).replace(tzinfo=None) - since).total_seconds()
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} d"


def stamp(moment: Optional[datetime]) -> str:
    return moment_label(moment) if moment else ""


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(channel=channel_label, waited=waited, stamp=stamp)
    # Decided from the channels' own variables, which `make run` gives the console like every
    # other service: an agent must see that replies on these channels reach no real customer.
    env.globals["sandboxed_channels"] = sandboxed(os.environ)
    return env


def render_fragment(app: web.Application, template: str, context: dict) -> str:
    return app[CONSOLE].templates.get_template(template).render(**context)


def render(request: web.Request, template: str, context: dict, status: int = 200) -> web.Response:
    session = request.get("session")
    agent = request.get("agent")
    csrf_token = session.csrf_token if session else context.get("csrf_token", "")
    page = console_of(request).templates.get_template(template).render(
        {**context, "agent": agent, "csrf_token": csrf_token})
    return web.Response(text=page, status=status, content_type="text/html")
