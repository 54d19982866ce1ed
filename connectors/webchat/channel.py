"""Web chat (credentials.yml key `connectors.webchat.WebchatInput`), on the shared pipeline.

Routes under /webhooks/webchat/:
  GET  socket      the widget's WebSocket (connectors/webchat/protocol.py); Origin must be in
                   WEBCHAT_ALLOWED_ORIGINS
  GET  widget.js   the widget, one script tag (connectors/webchat/static/widget.js)
  GET  demo        (sandbox only) a demo host page, with a test backend at demo/token
  POST hello, GET events, POST messages   the fallback when a WebSocket cannot open: SSE plus
                   POSTs (connectors/webchat/fallback.py)
  POST attachment  a file from the widget (connectors/webchat/uploads.py)
  GET  files/<n>   an attachment, by its unguessable name
A customer message is verified by the socket (origin, token, frame, limits), deduplicated by
the widget's message id, stored in the inbox and answered by the inbox worker like any
channel's; the output channel appends the answer to the customer's transcript, which every
open socket of that customer follows (all tabs), and which a reload replays.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import jwt
from rasa.core.channels.channel import OutputChannel
from redis.asyncio import Redis
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webchat import fallback
from connectors.webchat.config import WebchatSettings
from connectors.webchat.http_door import page_origin, preflight
from connectors.webchat.limits import MinuteLimit
from connectors.webchat.reply_elsewhere import ReplyElsewhere
from connectors.webchat.sign_in import SignInVisitor
from connectors.webchat.socket import WebchatSocket, refusal_before_upgrade
from connectors.webchat.tokens import ResumeTokens, SiteClaims, SiteTokens, UsedTokenIds, VisitorTokens
from connectors.webchat.transcript import WebchatTranscript
from connectors.webchat.uploads import receive_attachment, serve_file
from connectors.webhook import runtime as channel_runtime
from connectors.webhook.channel import OnNewMessage, Rejected, WebhookInput
from connectors.webhook.events import InboundEvent
from connectors.webhook.output import Payload, WebhookOutput, typed_by_human
from connectors.webhook.runtime import ChannelRuntime

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_CHARS = 4000


class WebchatInput(WebhookInput):
    dedupe_ttl_s = 24 * 3600  # a widget re-sends within seconds; a day is plenty

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    def __init__(self, *, settings: WebchatSettings, **kwargs: Any) -> None:
        super().__init__(sandbox=settings.sandbox, disabled=settings.disabled, **kwargs)
        self.settings = settings
        self.visitors = VisitorTokens(settings.jwt_secret)
        self.resume_tokens = ResumeTokens(settings.jwt_secret)
        self._services: Any = None
        self._app: Any = None  # the Rasa server's app, whose other channels a reply may take

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebchatInput":
        return cls(settings=WebchatSettings.from_credentials(credentials))

    # --- what the socket uses (on the Rasa server's loop, after `start`) -----------------
    @property
    def transcript(self) -> WebchatTranscript:
        return self.transcript_on(self.runtime.redis)

    def transcript_on(self, redis: Redis) -> WebchatTranscript:
        return WebchatTranscript(redis)

    def redis_url_for_sockets(self) -> str:
        return self.redis_url or channel_runtime.redis_url()

    @property
    def site_tokens(self) -> SiteTokens:
        return SiteTokens(self.settings.jwt_secret, UsedTokenIds(self.runtime.redis))

    @property
    def message_limit(self) -> MinuteLimit:
        return MinuteLimit(self.runtime.redis, "messages", self.settings.max_messages_per_minute)

    @property
    def connection_limit(self) -> MinuteLimit:
        return MinuteLimit(self.runtime.redis, "connections", self.settings.max_connections_per_minute)

    async def sign_in(self, claims: SiteClaims, visitor_address: Optional[str]) -> str:
        if self._services is None:
            from threadline.identity.services import IdentityServices  # the merge loads Rasa's stores

            self._services = IdentityServices.from_env()
        return await SignInVisitor(self._services, self.transcript)(claims, visitor_address)

    async def stop(self) -> None:
        if self._services is not None:
            await self._services.close()
        await super().stop()

    # --- the shared pipeline's parts -------------------------------------------------------
    async def admit(self, request: Request) -> List[InboundEvent]:
        raise Rejected(404, "web chat takes messages on its socket, not as webhooks")

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        elsewhere = None
        if runtime is None and self.settings.reply_elsewhere and self._app is not None:
            # The Rasa server's output, which agents' replies take (Rasa's HTTP API).
            elsewhere = ReplyElsewhere(self.runtime, self._running_channels)
        return WebchatOutput(runtime or self.runtime, address, elsewhere)

    def _running_channels(self) -> Dict[str, WebhookInput]:
        listed = getattr(self._app.ctx, "input_channels", None) or []
        return {c.name(): c for c in listed
                if isinstance(c, WebhookInput) and c is not self and c.enabled() and c.runtime is not None}

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = super().blueprint(on_new_message)

        @bp.listener("after_server_start")
        async def keep_app(app: Any, _loop: Any) -> None:
            self._app = app

        @bp.middleware("request")
        async def socket_door(request: Request) -> Optional[HTTPResponse]:
            if not request.path.endswith("/webchat/socket"):
                return None
            refusal = await refusal_before_upgrade(self, request)
            if refusal is None:
                return None
            log.warning("webchat: socket refused with %d: %s (from %s)", *refusal, request.remote_addr or request.ip)
            return response.text(refusal[1], status=refusal[0])

        @bp.websocket("/socket")
        async def socket(request: Request, ws: Any) -> None:
            await WebchatSocket(self, request, ws).run()

        @bp.route("/attachment", methods=["POST", "OPTIONS"])
        async def attachment(request: Request) -> HTTPResponse:
            return preflight(self, request) if request.method == "OPTIONS" else await receive_attachment(self, request)

        @bp.route("/hello", methods=["POST", "OPTIONS"])
        async def fallback_hello(request: Request) -> HTTPResponse:
            return preflight(self, request) if request.method == "OPTIONS" else await fallback.hello(self, request)

        @bp.route("/events", methods=["GET", "OPTIONS"])
        async def fallback_events(request: Request) -> Optional[HTTPResponse]:
            return preflight(self, request) if request.method == "OPTIONS" else await fallback.events(self, request)

        @bp.route("/messages", methods=["POST", "OPTIONS"])
        async def fallback_messages(request: Request) -> HTTPResponse:
            return preflight(self, request) if request.method == "OPTIONS" else await fallback.messages(self, request)

        @bp.route("/files/<name>", methods=["GET"])
        async def files(_: Request, name: str) -> HTTPResponse:
            return await serve_file(self, name)

        @bp.route("/widget.js", methods=["GET"])
        async def widget(request: Request) -> HTTPResponse:
            return self.widget(request)

        @bp.route("/demo", methods=["GET"])
        async def demo(_: Request) -> HTTPResponse:
            if not self.sandbox:
                return response.text("the demo host page is served in the sandbox only", status=404)
            return response.html((STATIC / "demo.html").read_text(encoding="utf-8"))

        @bp.route("/demo/token", methods=["POST"])
        async def demo_token(request: Request) -> HTTPResponse:
            return self.demo_token(request)

        return bp

    def widget(self, request: Request) -> HTTPResponse:
        """The script, for pages of the allowed origins only. A script tag's request carries
        the page's origin in Referer (browsers send at least the origin cross-site) or Origin;
        a request with neither is refused: fail closed."""
        origin = page_origin(request)
        if self.disabled or not self.settings.allows(origin):
            log.warning("webchat: widget.js refused for origin %s", "(none)" if not origin else "not allowed")
            return response.text("origin not allowed", status=403)
        return response.text((STATIC / "widget.js").read_text(encoding="utf-8"),
                             content_type="application/javascript; charset=utf-8",
                             headers={"Cache-Control": "no-cache", "Vary": "Origin, Referer",
                                      "Cross-Origin-Resource-Policy": "cross-origin"})

    def demo_token(self, request: Request) -> HTTPResponse:
        """The demo site's backend: mints a site token, as a real site's backend would
        (docs/webchat.md). Sandbox only, since it vouches for whatever it is asked."""
        if not self.sandbox:
            return response.text("sandbox only", status=404)
        body = request.json if isinstance(request.json, dict) else {}
        sub = str(body.get("sub") or "demo-user")[:100]
        claims = {"sub": sub, "exp": int(time.time()) + 600, "jti": uuid.uuid4().hex}
        for key in ("email", "phone"):
            if isinstance(body.get(key), str) and body[key].strip():
                claims[key] = body[key].strip()
        return response.json({"token": jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")})


class WebchatOutput(WebhookOutput):
    """Bot and agent messages: appended to the customer's transcript, which their open
    widgets follow. Buttons are native; there is no window and no opt-out."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    def __init__(self, runtime: ChannelRuntime, address: Optional[str] = None,
                 elsewhere: Optional[ReplyElsewhere] = None) -> None:
        super().__init__(runtime, address)
        self.transcript = WebchatTranscript(runtime.redis)
        self.elsewhere = elsewhere  # set when agents' replies may also go by another channel
        self._customer_id = ""  # of the payload being delivered (deliver has no argument for it)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await super().send_text_message(recipient_id, text, **kwargs)
        if self.elsewhere is not None and typed_by_human(kwargs):
            await self.elsewhere(recipient_id, text, kwargs)

    def fits(self, text: str) -> bool:
        return len(text) <= MAX_CHARS

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        if typed_by_human(kwargs):
            return {"from": "agent", "text": text, "agent": kwargs.get("agent_name") or None}
        return {"from": "bot", "text": text}

    def buttons_payload(self, address: str, text: str, buttons: List[Dict[str, Any]],
                        kwargs: Dict[str, Any]) -> Optional[Payload]:
        shown = [{"title": str(b.get("title", ""))[:80], "payload": str(b.get("payload", ""))[:500]}
                 for b in buttons[:10]]
        return {**self.text_payload(address, text, kwargs), "buttons": shown}

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Optional[Payload]:
        return {**self.text_payload(address, "", kwargs), "image": url}

    async def _deliver(self, customer_id: str, address: str, payload: Payload, slot: Any = None,
                       message: Optional[Dict[str, Any]] = None, ref: Optional[str] = None) -> Optional[str]:
        self._customer_id = customer_id
        return await super()._deliver(customer_id, address, payload, slot, message, ref)

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        customer_id = await self.runtime.resolver.canonical(self._customer_id)
        seq = await self.transcript.append(customer_id, {k: v for k, v in payload.items() if v is not None})
        return f"webchat:{customer_id}:{seq}", {}
