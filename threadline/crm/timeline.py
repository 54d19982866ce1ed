"""Rasa events → timeline interactions (pure; no I/O).

Only messages become interactions: `user` events (the customer) and `bot` events (the bot, or
an agent when the event's metadata says `"sent_by": "agent"`, as the console's messages do). The
interaction's idempotency key is the event's stable id (threadline.conversation.event_ids), which a
merge or an unlink does not change: replaying the log, or reading it again after a merge or an
unlink rewrote it, never creates a duplicate, and an unlink can find which rows were whose.
Rows written before ids existed for events a merge had already tagged were keyed on the event
as stored then (tag included); that key is passed along as an earlier key, so they are found too.

An event whose shape or values cannot make an interaction (a timestamp that is not a time, a
text that is not a string, …) raises `MalformedEvent` naming the field, never its value: the
timeline worker dead-letters that one event and goes on.
"""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from threadline.conversation.event_ids import EVENT_ID, ORIGIN, event_id
from threadline.crm.interface import InteractionRecord
from threadline.privacy.cpf import mask_cpfs


# An inbound message's status: `unverified` when its channel could not vouch for the sender
# (email whose From no trusted server authenticated); the console shows "unverified sender".
RECEIVED = "received"
UNVERIFIED = "unverified"
# A customer message nobody answered and the bot never will: email found at the reader's first
# start older than EMAIL_BACKLOG_HOURS (connectors/email/unanswered.py); the console marks it.
UNANSWERED = "unanswered"


class MalformedEvent(ValueError):
    """The event cannot become an interaction; `reason` names the field, never its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def earlier_keys(customer_id: str, event: Dict[str, Any]) -> Tuple[str, ...]:
    """The key the timeline gave a merged event before stable ids: a hash of the event as stored
    in this customer's log, merge tag included (an event never merged has it as its id)."""
    if EVENT_ID in event or ORIGIN not in event:
        return ()
    digest = hashlib.sha256((customer_id + "\n" + json.dumps(event, sort_keys=True)).encode()).hexdigest()
    return (f"rasa:{digest[:40]}",)


def _time(event: Dict[str, Any]) -> datetime:
    stamp = event.get("timestamp") or 0
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
        raise MalformedEvent("timestamp is not a number")
    try:
        return datetime.fromtimestamp(float(stamp), timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent("timestamp is out of range") from None


def _mapping(event: Dict[str, Any], name: str) -> Dict[str, Any]:
    value = event.get(name) or {}
    if not isinstance(value, dict):
        raise MalformedEvent(f"{name} is not an object")
    return value


def _optional_text(value: Any, name: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise MalformedEvent(f"{name} is not a string")
    return value


def _user_record(customer_id: str, event: Dict[str, Any]) -> InteractionRecord:
    metadata = _mapping(event, "metadata")
    parse = _mapping(event, "parse_data")
    intent = _mapping(parse, "intent")
    listed = parse.get("entities") or []
    if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
        raise MalformedEvent("parse_data.entities is not a list of objects")
    entities = [{"entity": e.get("entity"), "value": e.get("value")} for e in listed]
    confidence = intent.get("confidence")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))):
        raise MalformedEvent("parse_data.intent.confidence is not a number")
    return InteractionRecord(
        customer_id=customer_id, author="customer",
        channel=_optional_text(metadata.get("channel") or event.get("input_channel"), "channel"),
        # Channels mask CPFs before Rasa; this catches text that reached the log another way
        # (Rasa's HTTP API, conversations from before the masking), for the CRM and summaries.
        text=_with_media(_masked(_optional_text(event.get("text"), "text")), metadata), occurred_at=_time(event),
        idempotency_key=event_id(customer_id, event), earlier_keys=earlier_keys(customer_id, event),
        intent=_optional_text(intent.get("name"), "parse_data.intent.name"), confidence=confidence,
        entities=entities,
        delivery_status=UNVERIFIED if metadata.get("sender_verified") is False else RECEIVED,
        provider_message_id=_optional_text(
            metadata.get("provider_message_id") or event.get("message_id"), "provider_message_id"),
    )


def _with_media(text: Optional[str], metadata: Dict[str, Any]) -> Optional[str]:
    """A media message as people read it: its caption, then its files' URLs (one a line),
    rather than the "/intent" the bot was given for it. Media without URLs (WhatsApp's ids)
    leave the text as it is."""
    media = metadata.get("media")
    urls = [m["url"] for m in media if isinstance(m, dict) and isinstance(m.get("url"), str) and m["url"]] \
        if isinstance(media, list) else []
    if not urls:
        return text
    caption = text if text and not text.startswith("/") else ""
    return "\n".join([caption, *urls]).strip()


def _masked(text: Optional[str]) -> Optional[str]:
    return mask_cpfs(text) if text else text


def _bot_record(customer_id: str, event: Dict[str, Any], channel: Optional[str]) -> InteractionRecord:
    metadata = _mapping(event, "metadata")
    return InteractionRecord(
        customer_id=customer_id,
        author="agent" if metadata.get("sent_by") == "agent" else "bot",
        channel=_optional_text(metadata.get("channel") or channel, "channel"),
        text=_optional_text(event.get("text") or _custom_text(event), "text"), occurred_at=_time(event),
        idempotency_key=event_id(customer_id, event), earlier_keys=earlier_keys(customer_id, event),
        provider_message_id=_optional_text(metadata.get("provider_message_id"), "provider_message_id"),
        response=_response_name(metadata.get("utter_action")),
    )


def _custom_text(event: Dict[str, Any]) -> Optional[str]:
    """A custom payload's plain-text rendering (`data.custom.text`, e.g. an RCS card's answer:
    actions/rich.py), so the timeline says what the card said."""
    data = event.get("data")
    custom = data.get("custom") if isinstance(data, dict) else None
    text = custom.get("text") if isinstance(custom, dict) else None
    return text if isinstance(text, str) and text else None


def _response_name(value: Any) -> Optional[str]:
    """Rasa's `utter_action`; optional, so an odd one is dropped rather than refusing the message."""
    return value[:100] if isinstance(value, str) and value else None


def interactions_from_events(
    customer_id: str, events: Iterable[Dict[str, Any]], channel: Optional[str],
) -> Tuple[List[InteractionRecord], Optional[str]]:
    """The interactions in `events`, and the channel of the last customer message.

    `channel` is the channel the customer last wrote on before these events: a bot reply
    goes out on the channel of the message it answers.
    """
    records: List[InteractionRecord] = []
    for event in events:
        record, channel = interaction_of(customer_id, event, channel)
        if record is not None:
            records.append(record)
    return records, channel


def interaction_of(
    customer_id: str, event: Any, channel: Optional[str],
) -> Tuple[Optional[InteractionRecord], Optional[str]]:
    """One event's interaction (None when it is not a message) and the channel after it;
    `MalformedEvent` when it cannot be one."""
    if not isinstance(event, dict):
        raise MalformedEvent("event is not an object")
    kind = event.get("event")
    if kind == "user":
        record = _user_record(customer_id, event)
        return record, record.channel or channel
    if kind == "bot" and (event.get("text") or event.get("data")):
        return _bot_record(customer_id, event, channel), channel
    return None, channel
