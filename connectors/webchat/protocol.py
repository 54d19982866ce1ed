"""The web chat socket's frames (JSON text, one object per frame) and close codes.

Widget → server:
  {"type": "hello", "visitor": token|null, "resume": token|null, "login": site JWT|null,
   "after": last entry number the widget has}            (first frame, within HELLO_TIMEOUT_S)
  {"type": "message", "id": widget's id, "text": "..."}   (a typed message)
  {"type": "message", "id": ..., "payload": "/intent", "title": "Button title"}  (a tapped button)
  {"type": "read", "seq": n}   (the widget showed the bot's or agent's entry n to the visitor:
                               the page visible, the panel open, the entry in view)
  {"type": "ping"}
Server → widget:
  {"type": "welcome", "visitor": token|null, "resume": token|null, "verified": bool,
   "reset": bool}   (reset: forget the shown history, entries come again from 1)
  {"type": "entry", "seq": n, "from": "customer"|"bot"|"agent", "text", "buttons"?, "image"?,
   "agent"?, "client_id"?, "at"}  (every entry after the widget's `after`, then live)
  {"type": "ack", "id": widget's id, "seq": n}   (stored: the delivered tick)
  {"type": "typing"}   (the assistant is answering)   {"type": "pong"}
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from connectors.webchat.config import MAX_FRAME_BYTES, MAX_TEXT_CHARS

HELLO_TIMEOUT_S = 10.0

# Close codes (4000-4999 are the application's own, RFC 6455 §7.4.2).
BAD_FRAME = 4400       # not JSON, not an object, unknown type, missing or wrong fields
BAD_TOKEN = 4401       # forged, expired or replayed token
HELLO_TIMEOUT = 4408   # no hello in time
FLOOD = 4429           # more messages than WEBCHAT_MAX_MESSAGES_PER_MINUTE
# Refused before the upgrade, as HTTP: 403 (Origin not in WEBCHAT_ALLOWED_ORIGINS), 429 (more
# connections from one address than WEBCHAT_MAX_CONNECTIONS_PER_MINUTE), 503 (starting).
UNAVAILABLE = 1013     # try again later (channel starting, Redis down)
TOO_BIG = 1009         # a frame over MAX_FRAME_BYTES


class BadFrame(ValueError):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Hello:
    visitor: Optional[str]
    resume: Optional[str]
    login: Optional[str]
    after: int


@dataclass(frozen=True)
class ReadReceipt:
    seq: int


@dataclass(frozen=True)
class CustomerMessage:
    client_id: str
    text: Optional[str]
    payload: Optional[str]


def _object(raw: Union[str, bytes, None]) -> Dict[str, Any]:
    if raw is None:
        raise BadFrame(BAD_FRAME, "connection closed")
    if isinstance(raw, bytes):
        raise BadFrame(BAD_FRAME, "binary frame")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise BadFrame(TOO_BIG, "frame too large")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise BadFrame(BAD_FRAME, "frame is not JSON") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame(BAD_FRAME, "frame is not an object with a type")
    return frame


def _optional_text(frame: Dict[str, Any], key: str, limit: int) -> Optional[str]:
    value = frame.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadFrame(BAD_FRAME, f"field {key} is not a string of at most {limit} characters")
    return value


def parse_hello(raw: Union[str, bytes, None]) -> Hello:
    frame = _object(raw)
    if frame["type"] != "hello":
        raise BadFrame(BAD_FRAME, "first frame is not a hello")
    after = frame.get("after", 0)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise BadFrame(BAD_FRAME, "after is not a non-negative integer")
    return Hello(visitor=_optional_text(frame, "visitor", 200), resume=_optional_text(frame, "resume", 400),
                 login=_optional_text(frame, "login", 4000), after=after)


def parse_frame(raw: Union[str, bytes, None]) -> Union[CustomerMessage, ReadReceipt, None]:
    """A customer message, a read receipt, or None for a ping."""
    frame = _object(raw)
    if frame["type"] == "ping":
        return None
    if frame["type"] == "read":
        seq = frame.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise BadFrame(BAD_FRAME, "read without a positive seq")
        return ReadReceipt(seq)
    if frame["type"] != "message":
        raise BadFrame(BAD_FRAME, "unknown frame type")
    client_id = _optional_text(frame, "id", 64)
    if not client_id:
        raise BadFrame(BAD_FRAME, "message without id")
    text = _optional_text(frame, "text", MAX_TEXT_CHARS) or _optional_text(frame, "title", 200)
    payload = _optional_text(frame, "payload", 500)
    if not text and not payload:
        raise BadFrame(BAD_FRAME, "message without text")
    return CustomerMessage(client_id=client_id, text=text, payload=payload)


def encode(frame: Dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
