"""RCS channel through Google RBM (credentials.yml key `connectors.rcs.RcsInput`).

Webhook: POST /webhooks/rcs/webhook, Pub/Sub push JSON `{"message": {"data": base64 JSON,
"messageId", "publishTime", "attributes"}, "subscription"}`. Configuring the URL, RBM first
POSTs `{"clientToken", "secret"}`: we answer `{"secret": …}` when the client token is ours.
Every other request must carry `X-Goog-Signature` = base64(HMAC-SHA512(RBM_CLIENT_TOKEN, the
base64-decoded `message.data`)), checked in constant time; unsigned, wrongly signed or
malformed requests are refused (one log line, 4xx) and an event for another agent of the
same partner is acknowledged and dropped. Messages are deduplicated on RBM's messageId,
events on their eventId; DELIVERED and READ update the message's status, IS_TYPING is recorded.

Replies (connectors/rcs/rbm.py): capability check (cached 24 h), then an agent message with a
time-to-live (answers 1 h, one-time codes 10 min). The message goes by SMS (the SMS
channel's Twilio settings) at once when the phone is not RCS capable (404), the agent is not
launched on its carrier (403) or RBM keeps failing; and later when RBM reports
TTL_EXPIRATION_REVOKED (expired undelivered and revoked: it will never arrive).
TTL_EXPIRATION_REVOKE_FAILED (it may still arrive) is only recorded: no SMS, so never two
copies. Each message's record (`tl:out:msg:rcs:<id>`) says `channel_used` (rcs | sms) and
`fallback_reason`. Suggestions become numbered options in the SMS, and a reply "2" by SMS is
read as the second suggestion's payload (connectors/webhook/offers.py).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import uuid
from datetime import datetime
from typing import Any, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.rcs import content, rbm
from connectors.sms import SmsInput
from connectors.webhook import config, events as kinds
from connectors.webhook.channel import MAX_BODY_BYTES, OnNewMessage, Rejected, WebhookInput
from connectors.webhook.events import InboundEvent
from connectors.webhook.language import message_language
from connectors.webhook.offers import Offer, Option
from connectors.webhook.output import Payload, WebhookOutput
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import SendFailed
from connectors.webhook.signatures import RBM_HEADER, rbm_signature_valid
from connectors.webhook.text import split_text
from threadline.sandbox import modes

log = logging.getLogger(__name__)

STATUS_EVENTS = {"DELIVERED": "delivered", "READ": "read",
                 "TTL_EXPIRATION_REVOKED": "ttl_expiration_revoked",
                 "TTL_EXPIRATION_REVOKE_FAILED": "ttl_expiration_revoke_failed"}
TTL_REVOKED = "ttl_expiration_revoked"
# Why a message went by SMS (the `fallback_reason` of its record).
NOT_CAPABLE, NOT_LAUNCHED, RBM_UNAVAILABLE, TTL_EXPIRED, NO_FEATURE = (
    "not_capable", "agent_not_launched", "rbm_unavailable", "ttl_expired", "feature_missing")
FEATURES = {"card": "RICHCARD_STANDALONE", "carousel": "RICHCARD_CAROUSEL"}


class RcsInput(WebhookInput):
    dedupe_ttl_s = 7 * 24 * 3600  # Pub/Sub push retries for up to 7 days

    @classmethod
    def name(cls) -> Text:
        return "rcs"

    def __init__(self, *, agent_id: str, client_token: str, service_account_file: str,
                 api_url: str = rbm.DEFAULT_API_URL, sms: Optional[SmsInput] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.client_token = client_token
        self.api_url = api_url.rstrip("/")
        self.token = rbm.ServiceAccountToken(service_account_file)
        self.sms = sms  # the fallback; None when the SMS channel is off

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RcsInput":
        get = lambda key, env, default="": config.value(credentials, key, env, default)  # noqa: E731
        values = {"RBM_AGENT_ID": get("agent_id", "RBM_AGENT_ID"),
                  "RBM_CLIENT_TOKEN": get("client_token", "RBM_CLIENT_TOKEN"),
                  "RBM_SERVICE_ACCOUNT_FILE": get("service_account_file", "RBM_SERVICE_ACCOUNT_FILE")}
        mode = config.channel_mode("rcs", values)
        sms = SmsInput.from_credentials(None)
        return cls(
            agent_id=values["RBM_AGENT_ID"],
            client_token=config.webhook_secret(values["RBM_CLIENT_TOKEN"]),
            service_account_file=values["RBM_SERVICE_ACCOUNT_FILE"],
            api_url=get("api_url", "RBM_API_URL", rbm.DEFAULT_API_URL),
            sms=sms if sms.enabled() else None,
            sandbox=mode == modes.SANDBOX,
            disabled=mode == modes.DISABLED,
        )

    def api(self, runtime: ChannelRuntime) -> rbm.RbmApi:
        return rbm.RbmApi(self.api_url, self.agent_id, self.token, runtime.session, runtime.redis)

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        return RcsOutput(runtime or self.runtime, address, self)

    # --- the webhook ---------------------------------------------------------------------
    async def receive(self, request: Request) -> HTTPResponse:
        answer = self._handshake(request)
        return answer if answer is not None else await super().receive(request)

    def _handshake(self, request: Request) -> Optional[HTTPResponse]:
        """RBM's webhook verification (`{"clientToken", "secret"}`, no signature): echo the
        secret when the client token is ours. None for anything else."""
        if self.disabled or len(request.body or b"") > MAX_BODY_BYTES or request.headers.get(RBM_HEADER):
            return None
        try:
            body = json.loads((request.body or b"").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(body, dict) or "secret" not in body or "message" in body:
            return None
        token, secret = body.get("clientToken"), body.get("secret")
        if isinstance(token, str) and isinstance(secret, str) and self.client_token and hmac.compare_digest(
                token.encode(), self.client_token.encode()):
            log.info("rcs webhook: verification handshake answered")
            return response.json({"secret": secret})
        log.warning("rcs webhook: verification handshake refused (client token does not match)")
        return response.text("verification failed", status=403)

    def verify(self, request: Request) -> None:
        header = request.headers.get(RBM_HEADER)
        if not header:
            raise Rejected(401, "missing X-Goog-Signature")
        body = _json_object(request.body or b"", "body")
        message = body.get("message")
        data = message.get("data") if isinstance(message, dict) else None
        if not isinstance(data, str) or not data:
            raise Rejected(400, "no message.data")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(400, "message.data is not base64")
        if not rbm_signature_valid(self.client_token, raw, header):
            raise Rejected(403, "invalid X-Goog-Signature")
        request.ctx.rbm_message = message
        request.ctx.rbm_data = raw

    def parse(self, request: Request) -> List[InboundEvent]:
        attributes = request.ctx.rbm_message.get("attributes")
        if isinstance(attributes, dict) and attributes.get("type") == "agent_launch_event":
            log.info("rcs webhook: agent launch event acknowledged")
            return []
        data = _json_object(request.ctx.rbm_data, "message.data")
        if data.get("agentId") != self.agent_id:
            # A partner-level webhook gets the partner's other agents' events too: acknowledged
            # (a 4xx would make Pub/Sub retry it for a week), not stored, one log line.
            raise Rejected(200, "event for another agent (acknowledged, dropped)")
        event = _event(data)
        return [event] if event is not None else []

    # --- the consumer --------------------------------------------------------------------
    async def handle_event(self, event: InboundEvent, on_new_message: OnNewMessage,
                           runtime: ChannelRuntime) -> None:
        if event.kind == kinds.MESSAGE:
            await self.api(runtime).remember(event.address, rbm.CAPABLE)  # they just wrote by RCS
        await super().handle_event(event, on_new_message, runtime)
        if event.kind == kinds.STATUS and event.status == TTL_REVOKED:
            await RcsOutput(runtime, event.address, self).after_expiry(event.target_message_id or "")


def _json_object(raw: bytes, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, f"{what} is not UTF-8 JSON")
    if not isinstance(value, dict):
        raise Rejected(400, f"{what} is not a JSON object")
    return value


def _seconds(raw: Any) -> Optional[float]:
    """RFC 3339 with up to nanoseconds ("2026-12-02T06:21:00.123456789Z") → epoch seconds."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _event(data: Dict[str, Any]) -> Optional[InboundEvent]:
    """One RBM user message, user event or server event as an `InboundEvent`."""
    phone = data.get("senderPhoneNumber") or data.get("phoneNumber")
    if not isinstance(phone, str) or not phone:
        raise Rejected(400, "event without a phone number")
    at = _seconds(data.get("sendTime"))
    event_type = data.get("eventType")
    if event_type:
        event_id = data.get("eventId")
        if not isinstance(event_id, str) or not event_id:
            raise Rejected(400, "event without eventId")
        if event_type in STATUS_EVENTS:
            return InboundEvent(channel="rcs", kind=kinds.STATUS, event_id=event_id, address=phone,
                                target_message_id=str(data.get("messageId") or ""),
                                status=STATUS_EVENTS[event_type], timestamp=at)
        kind = kinds.TYPING if event_type == "IS_TYPING" else kinds.SYSTEM
        return InboundEvent(channel="rcs", kind=kind, event_id=event_id, address=phone, timestamp=at,
                            message_type=str(event_type).lower())
    message_id = data.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise Rejected(400, "message without messageId")
    event = InboundEvent(channel="rcs", kind=kinds.MESSAGE, event_id=message_id, address=phone,
                         provider_message_id=message_id, timestamp=at)
    reply = data.get("suggestionResponse")
    if isinstance(data.get("text"), str):
        event.text, event.message_type = data["text"], "text"
    elif isinstance(reply, dict):
        event.payload = str(reply.get("postbackData") or "") or None
        event.text = str(reply.get("text") or "") or None
        event.message_type = "suggestion_response"
    elif isinstance(data.get("userFile"), dict):
        payload = data["userFile"].get("payload") if isinstance(data["userFile"].get("payload"), dict) else {}
        event.media = [{"type": str(payload.get("mimeType") or ""), "url": str(payload.get("fileUri") or ""),
                        "size": payload.get("fileSizeBytes")}]
        event.message_type = "file"
    elif isinstance(data.get("location"), dict):
        event.location = {k: data["location"].get(k) for k in ("latitude", "longitude")}
        event.message_type = "location"
    else:
        # A kind of message we do not know: recorded for agents, never answered.
        event.kind, event.message_type = kinds.SYSTEM, "unknown"
    return event


class RcsOutput(WebhookOutput):
    @classmethod
    def name(cls) -> Text:
        return "rcs"

    def __init__(self, runtime: ChannelRuntime, address: Optional[str], channel: RcsInput) -> None:
        super().__init__(runtime, address)
        self.channel = channel
        self.api = channel.api(runtime)
        self.ttl_s = content.ANSWER_TTL_S
        self._customer_id = ""  # of the payload being delivered (deliver has no argument for it)

    def fits(self, text: str) -> bool:
        return len(text) <= rbm.TEXT_LIMIT

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        return content.text(address, text, self.ttl_s)

    def buttons_payload(self, address: str, text: str, buttons: List[Dict[str, Any]],
                        kwargs: Dict[str, Any]) -> Optional[Payload]:
        return content.with_suggestions(address, text, buttons, self.ttl_s, message_language(kwargs))

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Optional[Payload]:
        return content.image(address, url, self.ttl_s)

    def custom_payload(self, address: str, custom: Dict[str, Any]) -> Optional[Payload]:
        return content.rich(address, custom, self.ttl_s, None)

    async def send_text_now(self, recipient_id: str, text: str) -> bool:
        self.ttl_s = content.CODE_TTL_S  # a one-time code: SMS soon rather than RCS late
        try:
            return await super().send_text_now(recipient_id, text)
        finally:
            self.ttl_s = content.ANSWER_TTL_S

    async def mark_read(self, address: str, provider_message_id: Optional[str]) -> None:
        if not provider_message_id:
            return
        try:
            await self.api.event(address, "READ", provider_message_id)
        except SendFailed as error:  # cosmetic: never worth failing the turn
            log.warning("rcs: marking a message read failed: HTTP %s code %s", error.status, error.code)

    async def _deliver(self, customer_id: str, address: str, payload: Payload, slot: Any = None,
                       message: Optional[Dict[str, Any]] = None, ref: Optional[str] = None) -> Optional[str]:
        self._customer_id = customer_id
        return await super()._deliver(customer_id, address, payload, slot, message, ref)

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        phone, kind = payload["to"], payload["kind"]
        try:
            capability = await self.api.capability(phone)
        except SendFailed as error:
            log.warning("rcs: capability check failed (HTTP %s code %s)", error.status, error.code)
            return await self.by_sms(payload, RBM_UNAVAILABLE)
        if not capability.capable:
            return await self.by_sms(payload, NOT_CAPABLE if capability.state == rbm.NOT_CAPABLE else NOT_LAUNCHED)
        feature = FEATURES.get(kind)
        if feature and capability.features and feature not in capability.features:
            return await self.by_sms(payload, NO_FEATURE)
        options = payload["sms"]["options"]
        if options and kind in FEATURES and self._customer_id:
            # Recorded before sending, as buttons are: a fast tap may come back first.
            await self.records.offer(self._customer_id, Offer("rcs", False, [Option(**o) for o in options]))
        message_id = str(uuid.uuid4())
        try:
            await self.api.send(phone, message_id, payload["content"], payload["ttl_s"])
        except SendFailed as error:
            if error.status == 404:
                await self.api.remember(phone, rbm.NOT_CAPABLE)
                return await self.by_sms(payload, NOT_CAPABLE)
            if error.status == 403:
                await self.api.remember(phone, rbm.NOT_LAUNCHED)
                return await self.by_sms(payload, NOT_LAUNCHED)
            if error.status == 0 or error.status == 429 or error.status >= 500:
                return await self.by_sms(payload, RBM_UNAVAILABLE)
            raise
        return message_id, {"channel_used": "rcs", "kind": kind, "ttl_s": payload["ttl_s"],
                            "sms_fallback": json.dumps(payload["sms"], ensure_ascii=False)}

    async def by_sms(self, payload: Payload, reason: str) -> tuple[str, Dict[str, Any]]:
        """Send the payload's SMS version through the SMS channel; raises SendFailed when SMS
        cannot take it either (off, opted out, refused): the base records the failure."""
        phone, sms = payload["to"], payload["sms"]
        ids = await self._sms(phone, sms, reason)
        return ids[0], {"channel_used": "sms", "fallback_reason": reason, "kind": payload["kind"],
                        "sms_ids": ",".join(ids)}

    async def _sms(self, phone: str, sms: Dict[str, Any], reason: str) -> List[str]:
        if self.channel.sms is None:
            raise SendFailed(0, "no_sms_fallback", f"RCS cannot reach the phone ({reason}) and SMS is off")
        output = self.channel.sms.output_channel(phone, self.runtime)
        held = await output.hold_reason(phone, {})
        if held:
            raise SendFailed(0, "sms_held", held)
        if sms.get("options") and self._customer_id:
            # By SMS the suggestions are numbered: "2" means the second one's payload.
            await self.records.offer(self._customer_id, Offer("sms", True, [Option(**o) for o in sms["options"]]))
        ids = []
        for part in split_text(sms["text"], output.fits):
            sid, details = await output.deliver(output.text_payload(phone, part, {}))
            await self.records.sent("sms", sid, self._customer_id, phone, via="rcs", fallback_reason=reason, **details)
            ids.append(sid)
        if not ids:
            raise SendFailed(0, "empty", "nothing to send by SMS")
        log.info("rcs: a message to customer %s went by SMS (%s)", self._customer_id or "(none)", reason)
        return ids

    async def after_expiry(self, message_id: str) -> None:
        """RBM expired and revoked message `message_id` undelivered: send its SMS version,
        once (the record's `fallback_sms` says it went; the inbox already dropped a repeated
        event)."""
        record = await self.records.message("rcs", message_id)
        if record.get("channel_used") != "rcs" or record.get("fallback_sms") or not record.get("sms_fallback"):
            return
        self._customer_id = record.get("customer_id", "")
        phone = record.get("address") or self.address or ""
        try:
            ids = await self._sms(phone, json.loads(record["sms_fallback"]), TTL_EXPIRED)
        except SendFailed as error:
            log.error("rcs: expired message's SMS fallback failed: HTTP %s code %s", error.status, error.code)
            await self.records.failed("rcs", self._customer_id, phone, error.code or error.status, error.detail)
            return
        await self.runtime.redis.hset(f"tl:out:msg:rcs:{message_id}", mapping={
            "channel_used": "sms", "fallback_reason": TTL_EXPIRED, "fallback_sms": ",".join(ids)})
