"""Webhook deliveries as the providers send them, signed with the providers' algorithms.

Used by the simulator page, the tests and the benchmark, so all three exercise the same
wire format the connectors parse.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode

from connectors.webhook.signatures import (
    META_HEADER, TWILIO_HEADER, meta_signature, twilio_signature,
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
