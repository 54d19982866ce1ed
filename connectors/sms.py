"""SMS channel through Twilio (credentials.yml key `connectors.sms.SmsInput`).

Webhook: POST /webhooks/sms/webhook (form-encoded, `X-Twilio-Signature` over
TWILIO_WEBHOOK_URL, the public URL Twilio calls). Delivery status callbacks arrive on the same
URL. Replies: POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json.
STOP-style keywords opt the number out (nothing more is sent), START-style ones opt it in.
Buttons become numbered options; a reply of "2" is understood as the second option.

RCS through Twilio (connectors/rcs/twilio.py): with TWILIO_MESSAGING_SERVICE_SID set, replies
go through that Messaging Service (`MessagingServiceSid` instead of `From`): Twilio sends RCS
when the phone can take it and SMS otherwise. Rich answers (`{"rcs": {...}}` custom JSON,
connectors/rcs/content.py) go as Content API templates; without a Messaging Service they go as
their SMS text. Inbound RCS arrives on this same webhook, signed the same way, `From:
rcs:+55…` (read as the phone +55…: the same customer as its SMS) and a tapped button's id in
`ButtonPayload`.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Text
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse

from connectors.rcs import content as rcs_content, twilio as twilio_rcs
from connectors.webhook import config, events as kinds
from connectors.webhook.channel import Rejected, WebhookInput
from connectors.webhook.events import InboundEvent
from connectors.webhook.offers import Offer, Option
from connectors.webhook.output import Payload, WebhookOutput
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import ProviderClient, RetryPolicy
from connectors.webhook.signatures import TWILIO_HEADER, twilio_signature_valid
from connectors.webhook.text import sms_segments
from threadline.i18n import N_
from threadline.sandbox import modes

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"
MAX_CHARS = 1600
MAX_SEGMENTS = 10  # longer concatenated SMS are delivered unreliably by carriers
MAX_MEDIA = 10
OPT_OUT_WORDS = {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
OPT_IN_WORDS = {"START", "UNSTOP", "YES"}
RECIPIENT_OPTED_OUT = 21610
POLICY = RetryPolicy(rate_limit_codes=frozenset({20429}))


class SmsInput(WebhookInput):
    dedupe_ttl_s = 3 * 24 * 3600  # Twilio retries once; keep ids a few days anyway

    @classmethod
    def name(cls) -> Text:
        return "sms"

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str,
                 api_url: str = DEFAULT_API_URL, webhook_url: str = "", messaging_service_sid: str = "",
                 content_api_url: str = twilio_rcs.DEFAULT_CONTENT_API_URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messaging_service_sid = messaging_service_sid  # set: RCS (and SMS) through the service
        self.content_api_url = content_api_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.api_url = api_url.rstrip("/")
        self.webhook_url = webhook_url

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SmsInput":
        get = lambda key, env, default="": config.value(credentials, key, env, default)  # noqa: E731
        values = {"TWILIO_ACCOUNT_SID": get("account_sid", "TWILIO_ACCOUNT_SID"),
                  "TWILIO_AUTH_TOKEN": get("auth_token", "TWILIO_AUTH_TOKEN"),
                  "TWILIO_FROM_NUMBER": get("from_number", "TWILIO_FROM_NUMBER"),
                  # Twilio signs the public URL it calls: without it, requests could not be
                  # verified behind a proxy, so it is required like the secrets.
                  "TWILIO_WEBHOOK_URL": get("webhook_url", "TWILIO_WEBHOOK_URL")}
        mode = config.channel_mode("sms", values)
        return cls(
            account_sid=values["TWILIO_ACCOUNT_SID"],
            auth_token=config.webhook_secret(values["TWILIO_AUTH_TOKEN"]),
            from_number=values["TWILIO_FROM_NUMBER"],
            api_url=get("api_url", "TWILIO_API_URL", DEFAULT_API_URL),
            webhook_url=values["TWILIO_WEBHOOK_URL"],
            messaging_service_sid=get("messaging_service_sid", "TWILIO_MESSAGING_SERVICE_SID"),
            content_api_url=get("content_api_url", "TWILIO_CONTENT_API_URL", twilio_rcs.DEFAULT_CONTENT_API_URL),
            sandbox=mode == modes.SANDBOX,
            disabled=mode == modes.DISABLED,
        )

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        return SmsOutput(runtime or self.runtime, address, self)

    def acknowledgement(self) -> HTTPResponse:
        return response.text("<Response/>", content_type="text/xml")

    def verify(self, request: Request) -> None:
        header = request.headers.get(TWILIO_HEADER)
        if not header:
            raise Rejected(401, "missing X-Twilio-Signature")
        request.ctx.form = self._form(request)
        # A sandbox started without the launcher has no TWILIO_WEBHOOK_URL; live channels always do.
        url = self.webhook_url or request.url
        if not twilio_signature_valid(self.auth_token, url, request.ctx.form, header):
            raise Rejected(403, "invalid X-Twilio-Signature")

    def _form(self, request: Request) -> RequestParameters:
        if (request.content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise Rejected(415, f"content type {request.content_type!r} is not a form")
        try:
            text = (request.body or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not valid UTF-8")
        return RequestParameters(parse_qs(text, keep_blank_values=True))

    def parse(self, request: Request) -> List[InboundEvent]:
        form: RequestParameters = request.ctx.form
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise Rejected(400, "no MessageSid")
        if form.get("MessageStatus") and form.get("Body") is None:
            status = form.get("MessageStatus")
            code = form.get("ErrorCode")
            return [InboundEvent(channel="sms", kind=kinds.STATUS, event_id=f"{sid}:{status}",
                                 address=twilio_rcs.phone_of(form.get("To", "")), target_message_id=sid, status=status,
                                 errors=[{"code": code}] if code else None)]
        raw_from = form.get("From")
        if not raw_from:
            raise Rejected(400, "no From")
        address = twilio_rcs.phone_of(raw_from)
        details: Dict[str, Any] = {"segments": _int(form.get("NumSegments"))} if form.get("NumSegments") else {}
        if address != raw_from:
            details["transport"] = "rcs"
        media = []
        count = min(_int(form.get("NumMedia")), MAX_MEDIA)
        for index in range(count):
            media.append({"type": form.get(f"MediaContentType{index}", ""),
                          "url": form.get(f"MediaUrl{index}", "")})
        event = InboundEvent(
            channel="sms", kind=kinds.MESSAGE, event_id=sid, address=address,
            provider_message_id=sid, text=form.get("Body"), media=media,
            message_type="media" if media else "text", details=details,
        )
        if form.get("ButtonPayload"):  # a tapped RCS button (Content API action `id`)
            event.payload, event.message_type = form.get("ButtonPayload"), "button"
            event.text = form.get("ButtonText") or event.text
        return [event]

    async def text_for_bot(self, event: InboundEvent, runtime: ChannelRuntime, customer_id: str) -> Optional[str]:
        keyword = (event.text or "").strip().upper()
        if keyword in OPT_OUT_WORDS or keyword in OPT_IN_WORDS:
            # Twilio itself confirms these on long codes; we record the consent, no bot reply.
            await runtime.records.set_opt_out("sms", event.address, keyword in OPT_OUT_WORDS)
            if runtime.resolver is not None:  # the CRM's record, which follow-ups read
                await runtime.resolver.record_consent(customer_id, "sms", keyword in OPT_OUT_WORDS, "sms_stop")
            log.info("sms: opt-%s recorded", "out" if keyword in OPT_OUT_WORDS else "in")
            return None
        return await super().text_for_bot(event, runtime, customer_id)


class SmsOutput(WebhookOutput):
    # Short, and GSM-7 in every language (the pt-BR text leaves out ú): one accent would
    # make the whole SMS UCS-2 and halve what fits in a segment.
    numbered_hint = N_("Reply with a number.")

    @classmethod
    def name(cls) -> Text:
        return "sms"

    def __init__(self, runtime: ChannelRuntime, address: Optional[str], channel: SmsInput) -> None:
        super().__init__(runtime, address)
        self.channel = channel
        self.url = f"{channel.api_url}/2010-04-01/Accounts/{channel.account_sid}/Messages.json"
        auth = aiohttp.BasicAuth(channel.account_sid, channel.auth_token)
        self.client = ProviderClient(runtime.session, POLICY, lambda body: body.get("code"), auth=auth)
        self.content = twilio_rcs.ContentApi(channel.content_api_url, auth, runtime.session, runtime.redis, POLICY)
        self._customer_id = ""  # of the payload being delivered (deliver has no argument for it)

    def fits(self, text: str) -> bool:
        return len(text) <= MAX_CHARS and sms_segments(text)[1] <= MAX_SEGMENTS

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        service = self.channel.messaging_service_sid
        form = {"To": address, **({"MessagingServiceSid": service} if service else {"From": self.channel.from_number}),
                "Body": text}
        if self.channel.webhook_url:
            form["StatusCallback"] = self.channel.webhook_url
        return form

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Payload:
        return {**self.text_payload(address, "", kwargs), "MediaUrl": url}

    def custom_payload(self, address: str, custom: Dict[str, Any]) -> Optional[Payload]:
        """A card or carousel: a Content API template through the Messaging Service (RCS, or
        its SMS text where Twilio cannot send RCS); without one, its SMS text."""
        rich = rcs_content.rich(address, custom, rcs_content.ANSWER_TTL_S, None)
        if rich is None:
            return None
        sms = rich["sms"]
        if not self.channel.messaging_service_sid:
            return {**self.text_payload(address, sms["text"], {}), "_options": sms["options"]}
        types, variables = twilio_rcs.template(rich)
        form = {key: value for key, value in self.text_payload(address, "", {}).items() if key != "Body"}
        return {**form, "_types": types, "_variables": variables, "_options": sms["options"], "_sms": sms["text"]}

    async def _deliver(self, customer_id: str, address: str, payload: Payload, slot: Any = None,
                       message: Optional[Dict[str, Any]] = None, ref: Optional[str] = None) -> Optional[str]:
        self._customer_id = customer_id
        return await super()._deliver(customer_id, address, payload, slot, message, ref)

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        form = {key: value for key, value in payload.items() if not key.startswith("_")}
        if payload.get("_options") and self._customer_id:
            # Recorded before sending: a tapped RCS button (its id) or a digit by SMS picks it.
            await self.records.offer(self._customer_id, Offer("sms", True, [Option(**o) for o in payload["_options"]]))
        details: Dict[str, Any] = {}
        if "_types" in payload:
            form["ContentSid"] = await self.content.sid_for(payload["_types"], payload["_variables"])
            form["ContentVariables"] = json.dumps(payload["_variables"], ensure_ascii=False)
            details["content_sid"] = form["ContentSid"]
        body = await self.client.post(self.url, form=form)
        encoding, segments = sms_segments(payload.get("Body") or payload.get("_sms", ""))
        return body["sid"], {"encoding": encoding, "segments": segments, **details}

    async def hold_reason(self, address: str, kwargs: Dict[str, Any]) -> Optional[str]:
        if await self.records.opted_out("sms", address):
            return "sms recipient opted out (STOP)"
        return None

    async def on_failed(self, customer_id: str, address: str, error: Any) -> None:
        if error.code == RECIPIENT_OPTED_OUT:
            await self.records.set_opt_out("sms", address, True)


def _int(raw: Optional[str]) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0
