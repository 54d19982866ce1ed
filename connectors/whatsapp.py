"""WhatsApp Cloud API channel (credentials.yml key `connectors.whatsapp.WhatsAppInput`).

Webhook: POST /webhooks/whatsapp/webhook (GET for Meta's verification handshake).
Replies: POST {WHATSAPP_API_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages.
Outside the 24-hour customer-service window a free-form message is held (with its content) for
an agent; when WHATSAPP_TEMPLATE_NAME is set, that approved template is sent once per batch of
held messages to invite the customer back, in the customer's language: one template name,
approved at Meta in each language we speak, sent with Meta's code of the customer's language
(customers.language "pt" → WHATSAPP_TEMPLATE_LANGUAGE_PT, default `pt_BR`; "en" →
WHATSAPP_TEMPLATE_LANGUAGE, default `en`). A customer whose language is not known (the bot's
THREADLINE_DEFAULT_LANGUAGE guess is never stored) gets the business default's code
(docs/channels.md). Held messages go out,
in order, as soon as the customer writes again. Each message the bot answers is marked as read
(blue ticks) first.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Text

from rasa.core.channels.channel import OutputChannel

from connectors.webhook import config, events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.language import message_language
from connectors.webhook.meta import MetaWebhookInput, graph_error_code, items
from connectors.webhook.output import Payload, WebhookOutput
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import ProviderClient, RetryPolicy, SendFailed
from threadline.i18n import N_, texts_for
from threadline.language.default import DEFAULT_LANGUAGE, default_language
from threadline.sandbox import modes

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v23.0"
WINDOW_S = 24 * 3600
TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
# The button that opens a list of 4-10 options, and the list's title (at most 20 characters).
LIST_BUTTON = N_("Options")
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
POLICY = RetryPolicy(rate_limit_codes=frozenset({130429, 131056, 80007, 4}))
# Read receipts are cosmetic: one attempt, so a provider hiccup never delays the answer.
READ_POLICY = RetryPolicy(attempts=1)
REENGAGEMENT_ERROR = 131047
# Meta's language code of the invitation template per language we speak, the variable that
# changes it, and the codes Meta has for that language (its list of template languages): a
# template is approved per code, so "pt" or "pt-BR" would be refused at send time (error 132001).
TEMPLATE_LANGUAGES = {"pt": "pt_BR", "en": "en"}
TEMPLATE_LANGUAGE_VARIABLES = {"pt": "WHATSAPP_TEMPLATE_LANGUAGE_PT", "en": "WHATSAPP_TEMPLATE_LANGUAGE"}
META_TEMPLATE_CODES = {"pt": ("pt_BR", "pt_PT"), "en": ("en", "en_US", "en_GB")}
WINDOW_CLOSED = "whatsapp 24-hour window closed"


def template_languages_from_env() -> Dict[str, str]:
    """Meta's template language code per language we speak, from the environment; a code that
    is not one of Meta's for that language stops the server at start, naming the variable."""
    codes = {}
    for language, variable in TEMPLATE_LANGUAGE_VARIABLES.items():
        code = os.environ.get(variable, "").strip() or TEMPLATE_LANGUAGES[language]
        if code not in META_TEMPLATE_CODES[language]:
            raise config.ChannelNotConfigured(
                f"{variable} must be Meta's code of the template's {language!r} translation, one of "
                f"{', '.join(META_TEMPLATE_CODES[language])}; not {code!r}. Refusing to start.")
        codes[language] = code
    return codes


class WhatsAppInput(MetaWebhookInput):
    object_name = "whatsapp_business_account"
    dedupe_ttl_s = 7 * 24 * 3600  # Meta retries webhooks for up to 7 days

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    def __init__(self, *, access_token: str, phone_number_id: str, api_url: str = DEFAULT_API_URL,
                 template_name: str = "", template_languages: Optional[Mapping[str, str]] = None,
                 default_language: str = DEFAULT_LANGUAGE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.api_url = api_url.rstrip("/")
        self.template_name = template_name
        self.template_languages = {**TEMPLATE_LANGUAGES, **(template_languages or {})}
        self.default_language = default_language

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WhatsAppInput":
        get = lambda key, env, default="": config.value(credentials, key, env, default)  # noqa: E731
        values = {"WHATSAPP_APP_SECRET": get("app_secret", "WHATSAPP_APP_SECRET"),
                  "WHATSAPP_VERIFY_TOKEN": get("verify_token", "WHATSAPP_VERIFY_TOKEN"),
                  "WHATSAPP_ACCESS_TOKEN": get("access_token", "WHATSAPP_ACCESS_TOKEN"),
                  "WHATSAPP_PHONE_NUMBER_ID": get("phone_number_id", "WHATSAPP_PHONE_NUMBER_ID")}
        mode = config.channel_mode("whatsapp", values)
        return cls(
            app_secret=config.webhook_secret(values["WHATSAPP_APP_SECRET"]),
            verify_token=values["WHATSAPP_VERIFY_TOKEN"],
            access_token=values["WHATSAPP_ACCESS_TOKEN"],
            phone_number_id=values["WHATSAPP_PHONE_NUMBER_ID"],
            api_url=get("api_url", "WHATSAPP_API_URL", DEFAULT_API_URL),
            template_name=os.environ.get("WHATSAPP_TEMPLATE_NAME", ""),
            template_languages=template_languages_from_env(),
            default_language=default_language(),
            sandbox=mode == modes.SANDBOX,
            disabled=mode == modes.DISABLED,
        )

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        return WhatsAppOutput(runtime or self.runtime, address, self)

    def template_code(self, language: Optional[str]) -> str:
        """Meta's language code of the invitation template for a customer's language: the
        customer's known language, else (not known, or one we do not speak) the business's."""
        return self.template_languages.get(language or "") or self.template_languages[self.default_language]

    # --- parsing ----------------------------------------------------------------------
    def parse_entry(self, entry: dict) -> Iterable[InboundEvent]:
        for change in items(entry, "changes"):
            value = change.get("value") or {}
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue  # template/account updates share the URL: acknowledged, ignored
            number_id = (value.get("metadata") or {}).get("phone_number_id")
            if self.phone_number_id and number_id and number_id != self.phone_number_id:
                continue  # another number of the same business account
            contacts = {c.get("wa_id") or c.get("user_id"): c for c in items(value, "contacts")}
            yield from self.each(items(value, "messages"), lambda m: [self._message(m, contacts)])
            yield from self.each(items(value, "statuses"), lambda s: [self._status(s)])

    def _message(self, message: dict, contacts: Dict[str, dict]) -> InboundEvent:
        address = message.get("from") or message["from_user_id"]
        contact = contacts.get(address) or {}
        mtype = message.get("type", "unknown")
        body = message.get(mtype) if isinstance(message.get(mtype), dict) else {}
        event = InboundEvent(
            channel="whatsapp", kind=kinds.MESSAGE, event_id=message["id"], address=address,
            provider_message_id=message["id"], timestamp=_seconds(message.get("timestamp")),
            message_type=mtype, profile_name=(contact.get("profile") or {}).get("name"),
            attributes={k: v for k, v in {"wa_id": contact.get("wa_id"),
                                           "user_id": contact.get("user_id") or message.get("from_user_id"),
                                           }.items() if v},
        )
        context = message.get("context")
        if isinstance(context, dict) and context.get("id"):
            event.reply_to = {"message_id": context["id"], "from": context.get("from")}
        if isinstance(message.get("referral"), dict):
            event.referral = message["referral"]
        if mtype == "text":
            event.text = body.get("body")
        elif mtype == "interactive":
            reply = body.get("button_reply") or body.get("list_reply") or {}
            event.payload, event.text = reply.get("id"), reply.get("title")
        elif mtype == "button":
            event.payload, event.text = body.get("payload"), body.get("text")
        elif mtype in MEDIA_TYPES:
            event.media = [{"type": mtype, **{k: v for k, v in body.items() if k != "caption"}}]
            event.text = body.get("caption")
        elif mtype == "location":
            event.location = body
        elif mtype == "contacts":
            event.contacts = message.get("contacts") if isinstance(message.get("contacts"), list) else []
        elif mtype == "order":
            event.details["order"] = body
            event.text = body.get("text")
        elif mtype == "reaction":
            event.kind, event.target_message_id = kinds.REACTION, body.get("message_id")
            event.emoji = body.get("emoji") or ""  # empty: reaction removed
        elif mtype == "edit":
            event.kind = kinds.EDIT
            event.target_message_id = body.get("original_message_id") or (context or {}).get("id")
            event.text = (body.get("message") or {}).get("text", {}).get("body")
        elif mtype == "revoke":
            event.kind = kinds.DELETE
            event.target_message_id = body.get("original_message_id") or (context or {}).get("id")
        elif mtype == "system":
            event.kind = kinds.SYSTEM  # e.g. "customer changed number": recorded for agents
            event.text = body.get("body")
        elif mtype != "request_welcome":
            event.kind = kinds.UNSUPPORTED
            event.errors = message.get("errors")
        return event

    def _status(self, status: dict) -> InboundEvent:
        return InboundEvent(
            channel="whatsapp", kind=kinds.STATUS, event_id=f"{status['id']}:{status['status']}",
            address=status.get("recipient_id", ""), target_message_id=status["id"],
            status=status["status"], timestamp=_seconds(status.get("timestamp")),
            errors=status.get("errors"),
        )


class WhatsAppOutput(WebhookOutput):
    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    def __init__(self, runtime: ChannelRuntime, address: Optional[str], channel: WhatsAppInput) -> None:
        super().__init__(runtime, address)
        self.channel = channel
        self.url = f"{channel.api_url}/{channel.phone_number_id}/messages"
        auth = {"Authorization": f"Bearer {channel.access_token}"}
        self.client = ProviderClient(runtime.session, POLICY, graph_error_code, headers=auth)
        self.read_client = ProviderClient(runtime.session, READ_POLICY, graph_error_code, headers=auth)

    def fits(self, text: str) -> bool:
        return len(text) <= TEXT_LIMIT

    def _envelope(self, address: str, kind: str, body: Dict[str, Any]) -> Payload:
        # Business-scoped user ids (no phone) are addressed with "recipient" instead of "to".
        target = "to" if address.isdigit() else "recipient"
        return {"messaging_product": "whatsapp", "recipient_type": "individual", target: address,
                "type": kind, kind: body}

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        return self._envelope(address, "text", {"body": text, "preview_url": False})

    def buttons_payload(self, address: str, text: str, buttons: List[Dict[str, Any]],
                        kwargs: Dict[str, Any]) -> Optional[Payload]:
        if len(text) > INTERACTIVE_BODY_LIMIT or not buttons:
            return None
        ids = [str(b.get("payload") or b.get("title"))[:256] for b in buttons]
        titles = [str(b.get("title", "")) for b in buttons]
        if len(buttons) <= 3 and all(len(t) <= 20 for t in titles):
            action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}}
                                  for i, t in zip(ids, titles)]}
            return self._envelope(address, "interactive", {"type": "button", "body": {"text": text},
                                                           "action": action})
        if len(buttons) <= 10 and all(len(t) <= 24 for t in titles):
            rows = [{"id": i, "title": t} for i, t in zip(ids, titles)]
            options = texts_for(message_language(kwargs)).gettext(LIST_BUTTON)
            action = {"button": options, "sections": [{"title": options, "rows": rows}]}
            return self._envelope(address, "interactive", {"type": "list", "body": {"text": text},
                                                           "action": action})
        return None

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Payload:
        return self._envelope(address, "image", {"link": url})

    def custom_payload(self, address: str, custom: Dict[str, Any]) -> Payload:
        kind = custom.get("type", "text")
        return self._envelope(address, kind, custom.get(kind, {}))

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        body = await self.client.post(self.url, json_body=payload)
        return body["messages"][0]["id"], {"type": payload["type"]}

    async def hold_reason(self, address: str, kwargs: Dict[str, Any]) -> Optional[str]:
        last = await self.records.last_inbound("whatsapp", address)
        if last is None or time.time() - last > WINDOW_S:
            return WINDOW_CLOSED
        return None

    def send_later(self, reason: str) -> bool:
        return reason == WINDOW_CLOSED

    def opens_window(self, message: Dict[str, Any]) -> bool:
        # An approved template (a follow-up's, threadline/followups/messages.py) is what Meta
        # accepts outside the 24-hour window.
        custom = message.get("custom")
        return isinstance(custom, dict) and custom.get("type") == "template"

    async def mark_read(self, address: str, provider_message_id: Optional[str]) -> None:
        if not provider_message_id:
            return
        read = {"messaging_product": "whatsapp", "status": "read", "message_id": provider_message_id}
        try:
            await self.read_client.post(self.url, json_body=read)
        except SendFailed as error:  # cosmetic for the customer: never worth failing the turn
            log.warning("whatsapp: marking a message read failed: HTTP %s code %s", error.status, error.code)

    async def on_held(self, customer_id: str, address: str, reason: str) -> None:
        """Invite the customer back with the approved template: once per batch of held messages."""
        if reason != WINDOW_CLOSED or not self.channel.template_name:
            return
        if not await self.records.first_hold_of_batch("whatsapp", address):
            return
        resolver = self.runtime.resolver
        language = await resolver.language(customer_id) if resolver is not None else None
        template = {"name": self.channel.template_name, "language": {"code": self.channel.template_code(language)}}
        await self._deliver(customer_id, address, self._envelope(address, "template", template))

    def held_by_provider(self, error: SendFailed) -> Optional[str]:
        # Our window record was wrong: Meta's clock wins, and the message waits with its content.
        return WINDOW_CLOSED if error.code == REENGAGEMENT_ERROR else None


def _seconds(raw: Any) -> Optional[float]:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None
