"""A small client for the Rasa server's HTTP API: append events to a customer's tracker.

Used to resume the bot after a handoff and (by the console) to send agent messages through
the customer's channel. The token goes in the query string, as Rasa's `--auth-token` wants.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote

import aiohttp

from threadline.settings import Settings

TIMEOUT_S = 10.0


class RasaApiError(Exception):
    """The Rasa server refused the request or could not be reached."""


class RasaApi:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    @classmethod
    def from_env(cls) -> "RasaApi":
        """The local Rasa server on RASA_PORT with RASA_AUTH_TOKEN (which must be set)."""
        settings = Settings.from_env()
        if not os.environ.get("RASA_AUTH_TOKEN", "").strip():
            raise RasaApiError("RASA_AUTH_TOKEN is not set: the Rasa HTTP API cannot be called")
        return cls(f"http://127.0.0.1:{settings.rasa_port}", settings.rasa_auth_token)

    async def append_events(self, customer_id: str, events: Sequence[Dict[str, Any]], *,
                            output_channel: Optional[str] = None,
                            execute_side_effects: bool = False) -> Dict[str, Any]:
        """POST /conversations/{id}/tracker/events; returns the tracker Rasa answers with.

        With `execute_side_effects`, bot events are sent to the customer on `output_channel`
        (a connector name, or `latest`: the channel of the current session's last message).
        """
        params = {"token": self.token}
        if output_channel:
            params["output_channel"] = output_channel
        if execute_side_effects:
            params["execute_side_effects"] = "true"
        url = f"{self.base_url}/conversations/{quote(customer_id, safe='')}/tracker/events"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(url, params=params, json=list(events)) as response:
                    if response.status != 200:
                        raise RasaApiError(f"Rasa answered {response.status} to appending events")
                    return await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaApiError(f"Rasa server unreachable: {error.__class__.__name__}") from error


async def append_events(customer_id: str, events: List[Dict[str, Any]], output_channel: Optional[str] = None,
                        execute_side_effects: bool = False, *, api: Optional[RasaApi] = None) -> Dict[str, Any]:
    """`RasaApi.append_events` on the configured Rasa server (or `api`)."""
    return await (api or RasaApi.from_env()).append_events(
        customer_id, events, output_channel=output_channel, execute_side_effects=execute_side_effects)
