"""Rasa tracker store keyed by customer id whose per-turn cost does not grow with history.

Named in endpoints.yml:

    tracker_store:
      type: threadline.conversation.tracker_store.CustomerTrackerStore
      url: ${REDIS_URL}

`retrieve` reads only the current session (one Lua call); `save` appends only the events the
turn added (one atomic Lua call). History is never rewritten by a turn and never expires;
see docs/storage.md for retention, import and failure behaviour.

Every event is stored with its stable id (`threadline_id`, threadline/conversation/event_ids.py):
new events get one when appended, events read back from the log (a merge's rewrite, an
import of our own export) keep theirs. Each stored user event's provider message id is
indexed in the same step, so a replayed inbound message is known to be a turn already
(`has_turn`). Appended events are stored without what no reader needs (slim_events.py: the
full intent ranking, token lists, copies), ~1 KB per turn instead of ~3.7 KB.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Text, Tuple

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from redis.exceptions import RedisError

from threadline.conversation import failpoints
from threadline.conversation.event_ids import with_event_id
from threadline.conversation.event_log import KEY_PREFIX, CustomerEventLog, Layout
from threadline.conversation.slim_events import inflated_event, serialized, slim_event
from threadline.conversation.redis_connection import (
    STORE_URL_SETTING, StorageUnavailable, check_url_sync, client_for, redacted, validate_url,
)

log = logging.getLogger(__name__)

# Attribute set on trackers this store loaded or saved: which events are already stored.
STORED_MARK = "_threadline_stored"


@dataclass(frozen=True)
class StoredMark:
    """`events[:count]` of the tracker are stored and end at absolute offset `end`."""

    count: int
    end: int


def is_session_start(event: Dict[str, Any]) -> bool:
    """Rasa splits sessions at `action_session_start` (rasa.shared.core.trackers)."""
    return (
        event.get("event") == ActionExecuted.type_name
        and event.get("name") == ACTION_SESSION_START_NAME
    )


def session_start_positions(events: List[Dict[str, Any]]) -> List[int]:
    return [i for i, event in enumerate(events) if is_session_start(event)]


def turn_positions(events: List[Dict[str, Any]]) -> List[Tuple[int, str]]:
    """(position, provider message id) of the user events: Rasa's `UserUttered.message_id`
    is the channel's `UserMessage.message_id`, the provider's id for the inbound message."""
    return [(i, event["message_id"]) for i, event in enumerate(events)
            if event.get("event") == UserUttered.type_name and isinstance(event.get("message_id"), str)
            and event["message_id"]]


def _decode(raw: bytes | str) -> Dict[str, Any]:
    return inflated_event(json.loads(raw))


class CustomerTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Append-only Redis tracker store; one history per customer id (`sender_id`)."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[Text] = None,
        event_broker: Optional[EventBroker] = None,
        key_prefix: Text = KEY_PREFIX,
        **kwargs: Any,
    ) -> None:
        # Rasa passes endpoints.yml's `url` as `host`.
        self.url = validate_url(host or kwargs.pop("url", None), STORE_URL_SETTING.format("tracker store"))
        self.log = CustomerEventLog(client_for(self.url), key_prefix)
        super().__init__(domain, event_broker, **kwargs)

    @classmethod
    def check_connection(cls, endpoint_config: Any) -> None:
        """Raise `StorageUnavailable` unless the configured Redis answers and runs Lua."""
        check_url_sync(getattr(endpoint_config, "url", None), STORE_URL_SETTING.format("tracker store"))

    async def _call(self, operation: str, awaitable):
        """Run a Redis call; failures are logged loudly before Rasa's fail-safe sees them."""
        try:
            return await awaitable
        except RedisError as error:
            log.error(
                "tracker store: %s failed against Redis at %s: %s. Nothing was written. Under "
                "plain `rasa run` Rasa now falls back to an empty in-memory tracker; "
                "threadline.rasa_server fails the turn instead (docs/storage.md).",
                operation, redacted(self.url), error,
            )
            raise StorageUnavailable(f"tracker store {operation} failed: {error}") from error

    # --- Rasa's TrackerStore API -------------------------------------------------------

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The current session only, with the slots its session start carried over."""
        current = await self._call("retrieve", self.log.current_session(sender_id))
        if current is None:
            return None
        return self._tracker(sender_id, [_decode(e) for e in current.events], current.end_offset)

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        """Every stored session (archived ones excepted); for summaries and exports."""
        stored = await self._call("retrieve_full_tracker", self.log.everything(conversation_id))
        if not stored.events:
            return None
        return self._tracker(conversation_id, [_decode(e) for e in stored.events], stored.end_offset)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events added since this tracker was loaded or last saved."""
        mark: Optional[StoredMark] = getattr(tracker, STORED_MARK, None)
        events = list(tracker.events)
        if mark is not None and mark.count <= len(events):
            new_events = [event.as_dict() for event in events[mark.count:]]
            if not new_events:
                return
            result = await self._append(tracker.sender_id, new_events, "tail")
            if result.previous_end != mark.end:
                log.warning(
                    "tracker store: customer %s got %d event(s) from another writer between "
                    "retrieve and save; is the lock store shared by every server?",
                    tracker.sender_id, result.previous_end - mark.end,
                )
        else:
            # A tracker Rasa built elsewhere: its events are the current session as Rasa sees it.
            all_events = [event.as_dict() for event in events]
            result = await self._append(tracker.sender_id, all_events, "session")
            new_events = all_events[result.skipped:]
        end = result.previous_end + len(new_events)
        setattr(tracker, STORED_MARK, StoredMark(len(events), end))
        await self._publish(tracker.sender_id, new_events)
        if any(event.get("event") == UserUttered.type_name for event in new_events):
            failpoints.reach(failpoints.AFTER_TRACKER_SAVE)

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Publish unsaved events without re-reading the tracker (Rasa's default does)."""
        mark: Optional[StoredMark] = getattr(tracker, STORED_MARK, None)
        start = mark.count if mark is not None else 0
        await self._publish(tracker.sender_id, [e.as_dict() for e in list(tracker.events)[start:]])

    async def keys(self) -> Iterable[Text]:
        return await self._call("keys", self.log.customers())

    async def has_turn(self, sender_id: Text, message_id: Text) -> bool:
        """Whether the customer's stored history already holds the turn of inbound `message_id`."""
        return await self._call("has_turn", self.log.has_turn(sender_id, message_id))

    async def exists(self, conversation_id: Text) -> bool:
        layout = await self._call("exists", self.log.layout(conversation_id))
        return layout.length > 0

    # --- Whole-history operations (identity merge, exports, retention) -----------------

    async def read_history(
        self, sender_id: Text, start: int = 0, count: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """All stored sessions in order, as event dicts; page with `start`/`count`."""
        raw = await self._call("read_history", self.log.read(sender_id, start, count))
        return [_decode(e) for e in raw]

    async def rewrite_history(self, sender_id: Text, events: List[Dict[str, Any]]) -> None:
        """Replace the customer's whole history atomically.

        Only for operator merge/unlink, called while holding the customer's lock: it is the
        one operation that rewrites history, and it drops archived-offset bookkeeping. Events
        are stored exactly as given: those with an id keep it (a merge moves events, it does not
        make new ones), and an event stored before ids existed gets none here, so its derived id
        (event_ids.event_id), which is the key its CRM rows already have, stays what it was.
        The turn index is rebuilt from the events, so it moves with them.
        """
        events = list(events)
        serialized = [json.dumps(e) for e in events]
        starts = session_start_positions(events)
        await self._call("rewrite_history", self.log.replace(
            sender_id, serialized, starts, turn_positions(events)))

    async def delete_history(self, sender_id: Text) -> None:
        await self._call("delete_history", self.log.delete(sender_id))

    async def layout(self, sender_id: Text) -> Layout:
        return await self._call("layout", self.log.layout(sender_id))

    async def close(self) -> None:
        await self.log.client.close(close_connection_pool=True)

    # --- helpers ----------------------------------------------------------------------

    async def _append(self, sender_id: str, events: List[Dict[str, Any]], mode: str):
        """Store `events` (given ids and slimmed in place, so the caller publishes what was stored)."""
        events[:] = [slim_event(with_event_id(e), sender_id) for e in events]
        stored = [serialized(e) for e in events]
        starts = session_start_positions(events)
        return await self._call("save", self.log.append(
            sender_id, stored, starts, mode, turn_positions(events)))

    def _tracker(self, sender_id: str, events: List[Dict[str, Any]], end: int) -> DialogueStateTracker:
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED_MARK, StoredMark(len(tracker.events), end))
        return tracker

    async def _publish(self, sender_id: str, events: List[Dict[str, Any]]) -> None:
        if self.event_broker is None or not events:
            return
        for event in events:
            self.event_broker.publish({"sender_id": sender_id, **event})

