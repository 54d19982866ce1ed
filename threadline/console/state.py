"""What every console handler shares, stored on the aiohttp app under one typed key."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Dict, Set

import jinja2
from aiohttp import web
from redis.asyncio import Redis

from threadline.console.proxies import TrustedProxies
from threadline.console.sessions import SessionStore
from threadline.crm import Database
from threadline.handoff.rasa_api import RasaApi
from threadline.insights.csat import OptedOut


@dataclass
class Console:
    db: Database
    redis: Redis
    sessions: SessionStore
    rasa: RasaApi
    opted_out: OptedOut  # (channel, address) → the customer said STOP there (the channels know)
    templates: Dict[str, jinja2.Environment]  # by language (rendering.environments)
    poll_s: float = 1.0  # how often a live stream looks at the database
    session_check_s: float = 30.0  # how often a live stream checks that its session still holds
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    streams: Set[asyncio.Task] = field(default_factory=set)


CONSOLE = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]
