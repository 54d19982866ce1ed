"""Mail the reader found at its first start that had waited longer than EMAIL_BACKLOG_HOURS:
recorded in the CRM timeline as an unanswered customer message, so an agent sees it.

The bot never answers such mail (a reply days late reads as a glitch); what matters is that a
person can. The interaction is the customer's (channel email, the mail's new text, or its
subject when it has none, at the mail's Date) with status `unanswered`; the console shows it
as "not answered (arrived before Threadline started)". Its idempotency key comes from the
mail's Message-ID (or the content hash the inbox dedupes on when it has none), so a replayed
inbox entry or a second first start never records it twice.

The CRM is opened on first need (most runs have no such mail) through `crm_services`, in a
thread: opening migrates the database. It is the configured backend, like the timeline's.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime, timezone
from typing import Callable, Optional

from connectors.webhook.events import InboundEvent
from threadline.crm.backends import CrmServices, crm_services
from threadline.crm.interface import InteractionRecord
from threadline.crm.timeline import UNANSWERED

KEY_PREFIX = "email-unanswered:"
CHANNEL = "email"


def unanswered_key(event: InboundEvent) -> str:
    """Stable per mail: the inbox's id of it (the Message-ID, else a content hash)."""
    return KEY_PREFIX + hashlib.sha256(event.event_id.encode()).hexdigest()[:40]


def unanswered_interaction(customer_id: str, event: InboundEvent) -> InteractionRecord:
    subject = str(event.details.get("email", {}).get("subject") or "")
    text = (event.text or "").strip() or subject
    stamp = event.timestamp if event.timestamp is not None else time.time()
    return InteractionRecord(
        customer_id=customer_id, author="customer", channel=CHANNEL, text=text,
        occurred_at=datetime.fromtimestamp(stamp, timezone.utc).replace(tzinfo=None),
        idempotency_key=unanswered_key(event), delivery_status=UNANSWERED,
        provider_message_id=event.provider_message_id,
    )


def _open_configured_crm() -> CrmServices:
    return crm_services(seed_demo=False)


class UnansweredMailRecorder:
    """Writes unanswered mail to the CRM; `CrmUnavailable` propagates, so the inbox retries."""

    def __init__(self, open_crm: Callable[[], CrmServices] = _open_configured_crm) -> None:
        self._open_crm = open_crm
        self._services: Optional[CrmServices] = None
        self._opening = asyncio.Lock()

    async def record(self, customer_id: str, event: InboundEvent) -> bool:
        """True when it was new to the CRM."""
        services = await self._crm()
        return await services.crm.record_interactions([unanswered_interaction(customer_id, event)]) == 1

    async def _crm(self) -> CrmServices:
        async with self._opening:
            if self._services is None:
                self._services = await asyncio.to_thread(self._open_crm)
            return self._services

    async def close(self) -> None:
        services, self._services = self._services, None
        if services is not None:
            await services.close()
