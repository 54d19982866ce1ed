"""The customer's whole conversation, every session, for the handoff summary.

The tracker an action receives holds only the current session (threadline.conversation.tracker_store
reads no more), and not yet the events of the turn in progress in the store. The whole story
is the stored history (REDIS_URL, as the Rasa server's tracker store) plus the tracker's
events the store does not have yet. Without Redis, the current session is what there is.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Tuple

from rasa_sdk import Tracker
from redis.exceptions import RedisError

from threadline.conversation.redis_connection import StorageUnavailable
from threadline.conversation.tracker_store import CustomerTrackerStore

log = logging.getLogger(__name__)


def _key(event: Dict[str, Any]) -> Tuple[Any, ...]:
    return (event.get("event"), event.get("timestamp"), event.get("name"), event.get("text"))


async def whole_history(tracker: Tracker) -> List[Dict[str, Any]]:
    current = list(tracker.events)
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return current
    try:
        # A store per handoff (they are rare): no Redis client outlives its event loop.
        store = CustomerTrackerStore(host=url)
        try:
            stored = await store.read_history(tracker.sender_id)
        finally:
            await store.close()
    except (StorageUnavailable, RedisError, OSError) as error:
        log.warning("handoff summary from the current session only: %s", error.__class__.__name__)
        return current
    known = {_key(e) for e in stored}
    return stored + [e for e in current if _key(e) not in known]
