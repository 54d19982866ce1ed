"""Tracker fixtures for action tests, as the action server receives them (financial-demo style)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.shared.core.domain import Domain
from rasa_sdk import Tracker

from threadline.settings import PROJECT_DIR

DOMAIN: Dict[str, Any] = Domain.load(str(PROJECT_DIR / "domain.yml")).as_dict()


def tracker(
    slots: Optional[Dict[str, Any]] = None, *, sender_id: str = "cus_ana", channel: str = "whatsapp",
    intent: str = "order_status", text: str = "where is my order?", events: Optional[List[dict]] = None,
) -> Tracker:
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    return Tracker.from_dict({
        "sender_id": sender_id,
        "slots": all_slots,
        "latest_message": {
            "text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": [],
            "metadata": {"channel": channel, "address": "+5511987654321"},
        },
        "events": events or [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
        "latest_input_channel": channel,
    })
