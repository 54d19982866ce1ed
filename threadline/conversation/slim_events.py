"""What a stored event keeps: `slim_event` drops what no reader of the stored history needs.

A user event as Rasa serializes it is ~1.7 KB, two thirds of it NLU detail that only matters
during the turn that produced it (the in-memory tracker keeps all of it until the turn ends,
so `action_default_ask_affirmation` still sees the full intent ranking):

- `parse_data.intent_ranking`, `text_tokens`, `response_selector`: read by no one after the turn
  (the NLU reports parse afresh: threadline/evaluation);
- `parse_data.text`, `message_id`, `metadata`: copies of the event's own fields, which Rasa puts
  back when it rebuilds the event (`UserUttered.__init__`; the metadata it puts back also
  holds the model id);
- an entity's `extractor`: which component found it (Rasa's featurization reads entity, role and
  group; the CRM timeline entity and value);
- `metadata.assistant_id` and `metadata.model_id` on every event (Rasa stamps them; nothing
  reads them back: the model's id is in its file and in the server's /status);
- the channel's `metadata.customer_id`, when it is the customer whose log holds the event;
- a user event's `metadata.provider_message_id`, when it is the event's `message_id`, and its
  `input_channel` when it is `metadata.channel`, and a webhook message's `message_type` when it
  is "text" (`inflated_event` puts both back on read);
- an action's `policy` and `confidence` (Rasa's debug log has them; nothing reads them back);
- `None` values in a bot event's `data`, an action's `action_text` when null and
  `hide_rule_turn` when false: Rasa's defaults when they are missing.

`serialized` writes compact JSON with UTF-8 text.

Kept: the intent with its confidence, entities, `language`, `escalation` and any other key a
component adds (unknown keys stay), text, ids, channel metadata. Restoring a slim event gives
the same Rasa event (tests/conversation/test_turn_size.py).
"""
from __future__ import annotations

import json
from typing import Any, Dict

# NLU output no reader needs once the turn is over.
TURN_ONLY_PARSE_KEYS = ("intent_ranking", "text_tokens", "response_selector")
ASSISTANT_ID = "assistant_id"
MODEL_ID = "model_id"
PROVIDER_MESSAGE_ID = "provider_message_id"
CUSTOMER_ID = "customer_id"
MESSAGE_TYPE = "message_type"
TEXT = "text"


def serialized(event: Dict[str, Any]) -> str:
    """The stored form: compact JSON, UTF-8 as is (Portuguese letters are 2 bytes, not 6)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def slim_event(event: Dict[str, Any], customer_id: str) -> Dict[str, Any]:
    """`event` (a Rasa event dict of `customer_id`'s log) without what no reader needs; the
    input is not changed."""
    slim = dict(event)
    kind = slim.get("event")
    metadata = slim.get("metadata")
    if isinstance(metadata, dict):
        kept = {k: v for k, v in metadata.items() if k not in (ASSISTANT_ID, MODEL_ID)
                and not (k == CUSTOMER_ID and v == customer_id)}
        if kept:
            slim["metadata"] = kept
        else:
            slim.pop("metadata")
    if kind == "user" and isinstance(slim.get("metadata"), dict) \
            and slim["metadata"].get(PROVIDER_MESSAGE_ID) == slim.get("message_id"):
        # The channel's copy of the event's own `message_id` (the CRM timeline falls back to it).
        slim["metadata"] = {k: v for k, v in slim["metadata"].items() if k != PROVIDER_MESSAGE_ID}
    if kind == "user" and "input_channel" in slim and slim["input_channel"] is not None \
            and slim["input_channel"] == (slim.get("metadata") or {}).get("channel"):
        del slim["input_channel"]  # `inflated_event` puts it back
    if kind == "user" and _from_webhook(slim) and slim["metadata"].get(MESSAGE_TYPE) == TEXT:
        slim["metadata"] = {k: v for k, v in slim["metadata"].items() if k != MESSAGE_TYPE}
    if kind == "user" and isinstance(slim.get("parse_data"), dict):
        slim["parse_data"] = _slim_parse(slim["parse_data"], event)
    elif kind == "bot" and isinstance(slim.get("data"), dict):
        data = {k: v for k, v in slim["data"].items() if v is not None}
        if data:
            slim["data"] = data
        else:
            slim.pop("data")
    elif kind == "action":
        if slim.get("action_text") is None:
            slim.pop("action_text", None)
        if slim.get("hide_rule_turn") is False:
            slim.pop("hide_rule_turn")
        # Which policy chose the action and how sure it was: read back by nothing (Rasa's
        # prediction logs and `rasa test` have them; the next prediction does not use them).
        slim.pop("policy", None)
        slim.pop("confidence", None)
    return slim


def _slim_parse(parse: Dict[str, Any], event: Dict[str, Any]) -> Dict[str, Any]:
    slim = {k: v for k, v in parse.items() if k not in TURN_ONLY_PARSE_KEYS}
    for key in ("text", "message_id"):
        if key in slim and slim[key] == event.get(key):
            del slim[key]
    # Rasa refills it with the event's metadata, which also has the model id: a superset.
    metadata, own = slim.get("metadata"), event.get("metadata") or {}
    if isinstance(metadata, dict) and all(k in own and own[k] == v for k, v in metadata.items()):
        del slim["metadata"]
    entities = slim.get("entities")
    if isinstance(entities, list):
        slim["entities"] = [
            {k: v for k, v in entity.items() if k != "extractor"} if isinstance(entity, dict) else entity
            for entity in entities
        ]
    return slim


def inflated_event(event: Dict[str, Any]) -> Dict[str, Any]:
    """A stored event as it was before `slim_event`, for what Rasa and actions read: a user
    event's `input_channel` (Rasa answers on it) from its metadata's channel, and a webhook
    message's `message_type` "text"."""
    if event.get("event") != "user":
        return event
    inflated = event
    channel = (event.get("metadata") or {}).get("channel")
    if "input_channel" not in event and channel is not None:
        inflated = {**inflated, "input_channel": channel}
    if _from_webhook(event) and MESSAGE_TYPE not in event["metadata"]:
        inflated = {**inflated, "metadata": {**event["metadata"], MESSAGE_TYPE: TEXT}}
    return inflated


def _from_webhook(event: Dict[str, Any]) -> bool:
    """Metadata as connectors/webhook/events.py writes it: it always has a message type."""
    metadata = event.get("metadata")
    return isinstance(metadata, dict) and "channel" in metadata and "address" in metadata
