"""Instagram messaging channel (credentials.yml key `connectors.instagram.InstagramInput`).

Webhook: POST /webhooks/instagram/webhook (GET for Meta's verification handshake).
Replies: POST {INSTAGRAM_API_URL}/me/messages. Our own sends come back as echoes: recorded,
never fed to the bot. The bot may answer within 24 hours of the customer's last message; a
human agent (bot event metadata `sent_by: agent`) up to 7 days, with the HUMAN_AGENT tag.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import OutputChannel

from connectors.webhook import config, events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.meta import MetaWebhookInput, graph_error_code, items
from connectors.webhook.output import Payload, WebhookOutput, typed_by_human
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import ProviderClient, RetryPolicy, SendFailed
from threadline.sandbox import modes

DEFAULT_API_URL = "https://graph.instagram.com/v23.0"
BOT_WINDOW_S = 24 * 3600
HUMAN_AGENT_WINDOW_S = 7 * 24 * 3600
TEXT_LIMIT_BYTES = 1000
QUICK_REPLY_LIMIT = 13
QUICK_REPLY_TITLE = 20
POLICY = RetryPolicy(rate_limit_codes=frozenset({4, 17, 32, 613}))
WINDOW_CLOSED_CODE = 10  # with error_subcode 2534022
WINDOW_CLOSED = "instagram messaging window closed"


class InstagramInput(MetaWebhookInput):
    object_name = "instagram"
    dedupe_ttl_s = 36 * 3600 * 2  # twice Meta's 36 h retry window for Instagram

    @classmethod
    def name(cls) -> Text:
        return "instagram"

    def __init__(self, *, access_token: str, account_id: str = "",
                 api_url: str = DEFAULT_API_URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access_token = access_token
        self.account_id = account_id
        self.api_url = api_url.rstrip("/")

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InstagramInput":
        get = lambda key, env, default="": config.value(credentials, key, env, default)  # noqa: E731
        values = {"INSTAGRAM_APP_SECRET": get("app_secret", "INSTAGRAM_APP_SECRET"),
                  "INSTAGRAM_VERIFY_TOKEN": get("verify_token", "INSTAGRAM_VERIFY_TOKEN"),
                  "INSTAGRAM_ACCESS_TOKEN": get("access_token", "INSTAGRAM_ACCESS_TOKEN")}
        mode = config.channel_mode("instagram", values)
        return cls(
            app_secret=config.webhook_secret(values["INSTAGRAM_APP_SECRET"]),
            verify_token=values["INSTAGRAM_VERIFY_TOKEN"],
            access_token=values["INSTAGRAM_ACCESS_TOKEN"],
            account_id=get("account_id", "INSTAGRAM_ACCOUNT_ID"),
            api_url=get("api_url", "INSTAGRAM_API_URL", DEFAULT_API_URL),
            sandbox=mode == modes.SANDBOX,
            disabled=mode == modes.DISABLED,
        )

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        return InstagramOutput(runtime or self.runtime, address, self)

    # --- parsing ----------------------------------------------------------------------
    def parse_entry(self, entry: dict) -> Iterable[InboundEvent]:
        yield from self.each(items(entry, "messaging"), lambda m: [self._event(m)])

    def _event(self, item: dict) -> InboundEvent:
        sender = item["sender"]["id"]
        recipient = (item.get("recipient") or {}).get("id", "")
        at = item.get("timestamp")
        event = InboundEvent(channel="instagram", kind=kinds.MESSAGE, event_id="", address=sender,
                             timestamp=at / 1000 if isinstance(at, (int, float)) else None)
        if isinstance(item.get("message"), dict):
            self._message(event, item["message"], recipient)
        elif isinstance(item.get("postback"), dict):
            postback = item["postback"]
            event.payload, event.text = postback.get("payload"), postback.get("title")
            event.message_type = "postback"
            event.event_id = postback.get("mid") or f"postback:{sender}:{at}"
            event.provider_message_id = postback.get("mid")
        elif isinstance(item.get("reaction"), dict):
            reaction = item["reaction"]
            event.kind, event.target_message_id = kinds.REACTION, reaction.get("mid")
            event.emoji = reaction.get("emoji", "") if reaction.get("action") != "unreact" else ""
            event.event_id = f"reaction:{sender}:{reaction.get('mid')}:{reaction.get('action')}:{at}"
        elif isinstance(item.get("read"), dict):
            event.kind, event.target_message_id = kinds.READ, item["read"].get("mid")
            event.event_id = f"read:{sender}:{event.target_message_id}"
        elif isinstance(item.get("referral"), dict):
            event.kind, event.referral = kinds.REFERRAL, item["referral"]
            event.message_type, event.event_id = "referral", f"referral:{sender}:{at}"
        else:
            event.kind, event.event_id = kinds.UNSUPPORTED, f"unknown:{sender}:{at}"
        return event

    def _message(self, event: InboundEvent, message: dict, recipient: str) -> None:
        event.event_id = event.provider_message_id = message["mid"]
        if message.get("is_echo"):
            # We sent it (bot, or a person in the Instagram app): the customer is the recipient.
            event.kind, event.address, event.text = kinds.ECHO, recipient, message.get("text")
            return
        if message.get("is_deleted"):
            event.kind, event.target_message_id = kinds.DELETE, message["mid"]
            event.event_id = f"deleted:{message['mid']}"
            return
        if message.get("is_unsupported"):
            event.kind = kinds.UNSUPPORTED
            return
        event.text = message.get("text")
        event.message_type = "text"
        if isinstance(message.get("quick_reply"), dict):
            event.payload, event.message_type = message["quick_reply"].get("payload"), "quick_reply"
        attachments = items(message, "attachments")
        if attachments:
            event.media = [{"type": a.get("type"), **(a.get("payload") or {})} for a in attachments]
            event.message_type = attachments[0].get("type")
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict):
            if isinstance(reply_to.get("story"), dict):
                event.reply_to = {"story": reply_to["story"]}
                event.message_type = "story_reply"
            elif reply_to.get("mid"):
                event.reply_to = {"message_id": reply_to["mid"]}
        if isinstance(message.get("referral"), dict):
            event.referral = message["referral"]


class InstagramOutput(WebhookOutput):
    @classmethod
    def name(cls) -> Text:
        return "instagram"

    def __init__(self, runtime: ChannelRuntime, address: Optional[str], channel: InstagramInput) -> None:
        super().__init__(runtime, address)
        self.url = f"{channel.api_url}/me/messages"
        self.client = ProviderClient(runtime.session, POLICY, graph_error_code,
                                     headers={"Authorization": f"Bearer {channel.access_token}"})
        self._tag_human_agent = False

    def fits(self, text: str) -> bool:
        return len(text.encode("utf-8")) <= TEXT_LIMIT_BYTES

    def _payload(self, address: str, message: Dict[str, Any]) -> Payload:
        payload: Payload = {"recipient": {"id": address}, "message": message}
        if self._tag_human_agent:
            payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        else:
            payload["messaging_type"] = "RESPONSE"
        return payload

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        return self._payload(address, {"text": text})

    def buttons_payload(self, address: str, text: str, buttons: List[Dict[str, Any]],
                        kwargs: Dict[str, Any]) -> Optional[Payload]:
        titles = [str(b.get("title", "")) for b in buttons]
        if not buttons or len(buttons) > QUICK_REPLY_LIMIT or not self.fits(text) \
                or any(len(t) > QUICK_REPLY_TITLE for t in titles):
            return None
        replies = [{"content_type": "text", "title": t, "payload": str(b.get("payload") or t)}
                   for t, b in zip(titles, buttons)]
        return self._payload(address, {"text": text, "quick_replies": replies})

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Payload:
        return self._payload(address, {"attachment": {"type": "image", "payload": {"url": url}}})

    def custom_payload(self, address: str, custom: Dict[str, Any]) -> Payload:
        return self._payload(address, custom)

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        body = await self.client.post(self.url, json_body=payload)
        return body["message_id"], {"messaging_type": payload["messaging_type"]}

    async def hold_reason(self, address: str, kwargs: Dict[str, Any]) -> Optional[str]:
        last = await self.records.last_inbound("instagram", address)
        age = time.time() - last if last is not None else None
        self._tag_human_agent = False
        if age is not None and age <= BOT_WINDOW_S:
            return None
        if typed_by_human(kwargs) and age is not None and age <= HUMAN_AGENT_WINDOW_S:
            self._tag_human_agent = True  # allowed for people, never for the bot
            return None
        return WINDOW_CLOSED

    def send_later(self, reason: str) -> bool:
        return reason == WINDOW_CLOSED

    def held_by_provider(self, error: SendFailed) -> Optional[str]:
        # Meta's clock wins over our window record; the message waits with its content.
        return WINDOW_CLOSED if error.code == WINDOW_CLOSED_CODE else None
