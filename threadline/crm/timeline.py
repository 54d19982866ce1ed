"""Rasa events → timeline interactions (pure; no I/O).

Only messages become interactions: `user` events (the customer) and `bot` events (the bot, or
an agent when the event's metadata says `"sent_by": "agent"`, as the console's messages do). The key is
a hash of the customer id and the event exactly as stored, so replaying the log, or reading
it again after an operator merge rewrote it, never creates a duplicate.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from threadline.crm.interface import InteractionRecord


# An inbound message's status: `unverified` when its channel could not vouch for the sender
# (email whose From no trusted server authenticated); the console shows "unverified sender".
RECEIVED = "received"
UNVERIFIED = "unverified"


def idempotency_key(customer_id: str, event: Dict[str, Any]) -> str:
    digest = hashlib.sha256(
        (customer_id + "\n" + json.dumps(event, sort_keys=True)).encode()).hexdigest()
    return f"rasa:{digest[:40]}"


def _time(event: Dict[str, Any]) -> datetime:
    stamp = event.get("timestamp") or 0
    return datetime.fromtimestamp(float(stamp), timezone.utc).replace(tzinfo=None)


def _user_record(customer_id: str, event: Dict[str, Any]) -> InteractionRecord:
    metadata = event.get("metadata") or {}
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    entities = [{"entity": e.get("entity"), "value": e.get("value")}
                for e in parse.get("entities") or []]
    return InteractionRecord(
        customer_id=customer_id, author="customer",
        channel=metadata.get("channel") or event.get("input_channel"),
        text=event.get("text"), occurred_at=_time(event),
        idempotency_key=idempotency_key(customer_id, event),
        intent=intent.get("name"), confidence=intent.get("confidence"), entities=entities,
        delivery_status=UNVERIFIED if metadata.get("sender_verified") is False else RECEIVED,
        provider_message_id=metadata.get("provider_message_id") or event.get("message_id"),
    )


def _bot_record(customer_id: str, event: Dict[str, Any], channel: Optional[str]) -> InteractionRecord:
    metadata = event.get("metadata") or {}
    return InteractionRecord(
        customer_id=customer_id,
        author="agent" if metadata.get("sent_by") == "agent" else "bot",
        channel=metadata.get("channel") or channel,
        text=event.get("text"), occurred_at=_time(event),
        idempotency_key=idempotency_key(customer_id, event),
        provider_message_id=metadata.get("provider_message_id"),
    )


def interactions_from_events(
    customer_id: str, events: Iterable[Dict[str, Any]], channel: Optional[str],
) -> Tuple[List[InteractionRecord], Optional[str]]:
    """The interactions in `events`, and the channel of the last customer message.

    `channel` is the channel the customer last wrote on before these events: a bot reply
    goes out on the channel of the message it answers.
    """
    records: List[InteractionRecord] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            record = _user_record(customer_id, event)
            channel = record.channel or channel
            records.append(record)
        elif kind == "bot" and (event.get("text") or event.get("data")):
            records.append(_bot_record(customer_id, event, channel))
    return records, channel
