"""What WhatsApp and Instagram share: Meta's handshake, signature and JSON envelope."""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Callable, Iterable, List

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webhook.channel import Rejected, WebhookInput
from connectors.webhook.events import InboundEvent
from connectors.webhook.signatures import META_HEADER, meta_signature_valid

log = logging.getLogger(__name__)


def graph_error_code(body: dict) -> Any:
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else None


def items(container: Any, key: str) -> List[Any]:
    """`container[key]` when it is a list of objects; anything else counts as empty."""
    value = container.get(key) if isinstance(container, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class MetaWebhookInput(WebhookInput):
    object_name: str = ""

    def __init__(self, *, app_secret: str, verify_token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_secret = app_secret
        self.verify_token = verify_token

    def handshake(self, request: Request) -> HTTPResponse:
        mode = request.args.get("hub.mode")
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if mode == "subscribe" and self.verify_token and hmac.compare_digest(
            token.encode(), self.verify_token.encode()
        ):
            return response.text(challenge)
        log.warning("%s webhook: verification handshake refused", self.name())
        return response.text("verification failed", status=403)

    def verify(self, request: Request) -> None:
        header = request.headers.get(META_HEADER)
        if not header:
            raise Rejected(401, "missing X-Hub-Signature-256")
        if not meta_signature_valid(self.app_secret, request.body or b"", header):
            raise Rejected(403, "invalid X-Hub-Signature-256")

    def parse(self, request: Request) -> List[InboundEvent]:
        if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
            raise Rejected(415, f"content type {request.content_type!r} is not JSON")
        try:
            body = json.loads((request.body or b"").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Rejected(400, "body is not valid UTF-8 JSON")
        if not isinstance(body, dict):
            raise Rejected(400, "body is not a JSON object")
        if body.get("object") != self.object_name:
            log.info("%s webhook: ignored delivery for object %r", self.name(), body.get("object"))
            return []
        events: List[InboundEvent] = []
        for entry in items(body, "entry"):
            events.extend(self.parse_entry(entry))
        return events

    def parse_entry(self, entry: dict) -> Iterable[InboundEvent]:
        raise NotImplementedError

    def each(self, things: Iterable[dict], parse_one: Callable[[dict], Iterable[InboundEvent]]
             ) -> Iterable[InboundEvent]:
        """One odd event must not cost the other events of the batch: skip it, log it."""
        for thing in things:
            try:
                yield from parse_one(thing)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                log.warning("%s webhook: skipped an unparseable event (%s)", self.name(),
                            type(error).__name__)
