"""`ResumeBot`: the bot answers a customer again (after a handoff is handed back or closed)."""
from __future__ import annotations

from typing import Optional

from threadline.handoff.rasa_api import RasaApi

# Resume, then `action_listen`: messages that arrived while paused left no action_listen
# after them, and without one the policies misread the next message (measured: a clear
# "are you a bot?" got the fallback, which handed the customer over again).
BOT_ANSWERS_AGAIN = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]


class ResumeBot:
    """Append `ConversationResumed` (and `action_listen`) to the customer's tracker through the
    Rasa HTTP API."""

    def __init__(self, api: Optional[RasaApi] = None) -> None:
        self.api = api

    async def __call__(self, customer_id: str) -> None:
        await (self.api or RasaApi.from_env()).append_events(customer_id, BOT_ANSWERS_AGAIN)
