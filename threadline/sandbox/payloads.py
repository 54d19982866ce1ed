"""Webhook deliveries as the providers send them, signed with the providers' algorithms.

Used by the simulator page, the tests and the benchmark, so all three exercise the same
wire format the connectors parse.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode

from connectors.webhook.signatures import (
    META_HEADER, RBM_HEADER, TWILIO_HEADER, meta_signature, rbm_signature, twilio_signature,
)


@dataclass
class Delivery:
    """One HTTP request a provider would make."""

    body: bytes
    headers: Dict[str, str]


def new_wamid() -> str:
    return "wamid.HBgN" + secrets.token_hex(16).upper()


def new_ig_mid() -> str:
    return "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOj" + secrets.token_hex(12)


def new_twilio_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


# --- WhatsApp ---------------------------------------------------------------------------
def whatsapp_message(kind: str, wa_id: str, content: Dict[str, Any], *, message_id: str = "",
                     context: Optional[dict] = None, **extra: Any) -> Dict[str, Any]:
    message: Dict[str, Any] = {"from": wa_id, "id": message_id or new_wamid(),
                               "timestamp": str(int(time.time())), "type": kind}
    if content is not None:
        message[kind] = content
    if context:
        message["context"] = context
    message.update(extra)
    return message


def whatsapp_envelope(phone_number_id: str, messages: List[dict] = (), statuses: List[dict] = (),
                      contacts: List[dict] = (), *, changes: int = 1) -> Dict[str, Any]:
    value: Dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [change] * changes}]}


def whatsapp_contact(wa_id: str, name: str) -> Dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def whatsapp_status(message_id: str, status: str, recipient: str, errors: Optional[list] = None) -> dict:
    item = {"id": message_id, "status": status, "timestamp": str(int(time.time())),
            "recipient_id": recipient}
    if errors:
        item["errors"] = errors
    return item


# --- Instagram --------------------------------------------------------------------------
def instagram_envelope(account_id: str, messaging: List[dict]) -> Dict[str, Any]:
    return {"object": "instagram",
            "entry": [{"id": account_id, "time": int(time.time() * 1000), "messaging": list(messaging)}]}


def instagram_item(sender: str, recipient: str, **event: Any) -> Dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": recipient},
            "timestamp": int(time.time() * 1000), **event}


# --- signing ----------------------------------------------------------------------------
def meta_delivery(app_secret: str, payload: Dict[str, Any]) -> Delivery:
    # Meta escapes non-ASCII as \uXXXX; json.dumps does the same by default.
    body = json.dumps(payload).encode()
    return Delivery(body, {"Content-Type": "application/json",
                           META_HEADER: meta_signature(app_secret, body)})


def twilio_inbound(account_sid: str, from_number: str, to_number: str, body: str,
                   media: List[tuple] = (), sid: str = "") -> Dict[str, str]:
    params = {"MessageSid": sid or new_twilio_sid(), "SmsSid": "", "AccountSid": account_sid,
              "From": from_number, "To": to_number, "Body": body, "NumMedia": str(len(media)),
              "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
              "FromCountry": "BR", "ToCountry": "US"}
    params["SmsSid"] = params["MessageSid"]
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    return params


def twilio_status(account_sid: str, message_sid: str, status: str, to: str, error_code: str = "") -> Dict[str, str]:
    params = {"MessageSid": message_sid, "SmsSid": message_sid, "AccountSid": account_sid,
              "MessageStatus": status, "SmsStatus": status, "To": to, "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return params


def twilio_delivery(auth_token: str, url: str, params: Dict[str, str]) -> Delivery:
    return Delivery(urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        TWILIO_HEADER: twilio_signature(auth_token, url, params),
    })


# --- Google RBM (RCS) --------------------------------------------------------------------
def rbm_time(at: Optional[float] = None) -> str:
    """RFC 3339 with nanoseconds, as RBM writes `sendTime`."""
    at = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e9):09d}Z"


def rbm_user_message(agent_id: str, phone: str, *, text: Optional[str] = None, postback: Optional[str] = None,
                     title: Optional[str] = None, message_id: str = "", **extra: Any) -> Dict[str, Any]:
    """A user message as RBM puts it in `message.data` (text, or a tapped suggestion)."""
    data: Dict[str, Any] = {"senderPhoneNumber": phone, "messageId": message_id or new_rbm_id(),
                            "sendTime": rbm_time(), "agentId": agent_id}
    if postback is not None:
        data["suggestionResponse"] = {"postbackData": postback, "text": title or postback, "type": "REPLY"}
    elif text is not None:
        data["text"] = text
    data.update(extra)
    return data


def rbm_user_event(agent_id: str, phone: str, event_type: str, message_id: str = "") -> Dict[str, Any]:
    """DELIVERED / READ (of `message_id`) or IS_TYPING, sent by the customer's phone."""
    data = {"senderPhoneNumber": phone, "eventType": event_type, "eventId": new_rbm_id(),
            "sendTime": rbm_time(), "agentId": agent_id}
    if message_id:
        data["messageId"] = message_id
    return data


def rbm_server_event(agent_id: str, phone: str, event_type: str, message_id: str) -> Dict[str, Any]:
    """TTL_EXPIRATION_REVOKED / TTL_EXPIRATION_REVOKE_FAILED, sent by the RBM platform."""
    return {"phoneNumber": phone, "messageId": message_id, "agentId": agent_id, "eventType": event_type,
            "eventId": new_rbm_id(), "sendTime": rbm_time()}


def new_rbm_id() -> str:
    return "MxH" + secrets.token_urlsafe(18)


def rbm_push_body(data: bytes) -> bytes:
    """The Pub/Sub push request RBM's webhook gets: `message.data` is the base64 event JSON."""
    return json.dumps({"message": {"attributes": {}, "data": base64.b64encode(data).decode(),
                                   "messageId": str(uuid.uuid4().int)[:16], "publishTime": rbm_time()},
                       "subscription": "projects/rbm-sandbox/subscriptions/rbm-agent-subscription"}).encode()


def rbm_delivery(client_token: str, event: Dict[str, Any]) -> Delivery:
    data = json.dumps(event).encode()
    return Delivery(rbm_push_body(data), {"Content-Type": "application/json",
                                          RBM_HEADER: rbm_signature(client_token, data)})


def rbm_handshake(client_token: str, secret: str) -> Delivery:
    """What RBM POSTs once when the webhook URL is configured (no signature)."""
    return Delivery(json.dumps({"clientToken": client_token, "secret": secret}).encode(),
                    {"Content-Type": "application/json"})
