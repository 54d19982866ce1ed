"""`ResumeBot`: the bot answers a customer again (after a handoff is handed back or closed)."""
from __future__ import annotations

from typing import Optional

from threadline.handoff.rasa_api import RasaApi

RESUME = {"event": "resume"}


class ResumeBot:
    """Append `ConversationResumed` to the customer's tracker through the Rasa HTTP API."""

    def __init__(self, api: Optional[RasaApi] = None) -> None:
        self.api = api

    async def __call__(self, customer_id: str) -> None:
        await (self.api or RasaApi.from_env()).append_events(customer_id, [RESUME])
