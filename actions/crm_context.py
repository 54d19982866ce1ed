"""What every journey's actions share: the CRM services, the channel, the customer's texts.

The services are opened once per action server process (on first use, in a thread: opening
migrates the database and seeds the demo shop). Tests install their own with `use_services`.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from typing import Optional

from rasa_sdk import Tracker

from threadline.crm.backends import CrmConfigError, CrmServices, crm_services
from threadline.crm.interface import CrmUnavailable
from threadline.i18n import N_, Texts, texts_for

log = logging.getLogger(__name__)

_services: Optional[CrmServices] = None
_opening = asyncio.Lock()


def use_services(services: Optional[CrmServices]) -> None:
    global _services
    _services = services


async def services() -> CrmServices:
    global _services
    async with _opening:
        if _services is None:
            try:
                _services = await asyncio.to_thread(crm_services)
            except CrmConfigError:
                raise
            except Exception as error:  # database down at first use: try again next time
                raise CrmUnavailable(f"CRM could not be opened: {error.__class__.__name__}") from error
    return _services


def channel_of(tracker: Tracker) -> Optional[str]:
    """The channel of the message being answered (connectors put it in the metadata)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata.get("channel") or tracker.get_latest_input_channel()


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def texts_of(tracker: Tracker) -> Texts:
    """The catalogue and formats of the customer's language (the `language` slot; None: English)."""
    return texts_for(tracker.get_slot("language"))


CRM_UNAVAILABLE = N_("Sorry, I can't look that up right now. Please try again in a few minutes, or ask for a person.")

CHANNEL_NAMES = {"whatsapp": "WhatsApp", "instagram": "Instagram", "sms": "SMS", "rcs": "RCS", "email": N_("email")}


def say_channel(channel: Optional[str], texts: Texts) -> Optional[str]:
    name = CHANNEL_NAMES.get(channel or "")
    return texts.gettext(name) if name else channel
