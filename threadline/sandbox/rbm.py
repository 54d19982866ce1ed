"""The sandbox's Google RBM (RCS Business Messaging) API, in RBM's wire format.

  POST   /rbm/token                                   OAuth 2.0 JWT-bearer grant: the JWT must be
         signed (RS256) with the key of RBM_SERVICE_ACCOUNT_FILE, for its client_email
  GET    /rbm/v1/phones/{E164}/capabilities           200 {"features": [...]}, 404 when the phone
         is switched to "not RCS capable"
  POST   /rbm/v1/phones/{E164}/agentMessages          ?messageId=&agentId=; 404 when not capable;
         then DELIVERED and READ events to the webhook, unless the phone is "offline": its
         messages wait until `expire` (TTL_EXPIRATION_REVOKED) or the phone comes online
  DELETE /rbm/v1/phones/{E164}/agentMessages/{id}     revoke: 200 while undelivered, else 404
  POST   /rbm/v1/phones/{E164}/agentEvents            the agent's READ / IS_TYPING: 200
Customer side: POST /sandbox/rcs {address, capable?, online?, expire?} flips a phone's switches
(expire: its waiting messages' TTL runs out now).
"""
from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any, Dict, Optional, Set

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from threadline.sandbox import payloads as p
from threadline.sandbox.rbm_key import write_service_account  # noqa: F401  (tests and make run)
FEATURES = ["RICHCARD_STANDALONE", "RICHCARD_CAROUSEL", "ACTION_CREATE_CALENDAR_EVENT", "ACTION_DIAL",
            "ACTION_OPEN_URL", "ACTION_SHARE_LOCATION", "ACTION_VIEW_LOCATION"]


def _google_error(status: int, name: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": name}}, status=status)


class RbmSandbox:
    """RBM's API for the sandbox provider (`sandbox` records what was sent and posts webhooks)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.tokens: Set[str] = set()
        self.not_capable: Set[str] = set()
        self.offline: Set[str] = set()
        self.pending: Dict[str, Dict[str, str]] = {}  # message id -> {to}: not delivered yet
        self.capability_checks: list = []
        self.revoked: list = []
        self.agent_events: list = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/rbm/token", self.token)
        app.router.add_get("/rbm/v1/phones/{phone}/capabilities", self.capabilities)
        app.router.add_post("/rbm/v1/phones/{phone}/agentMessages", self.send)
        app.router.add_delete("/rbm/v1/phones/{phone}/agentMessages/{message_id}", self.revoke)
        app.router.add_post("/rbm/v1/phones/{phone}/agentEvents", self.agent_event)
        app.router.add_post("/sandbox/rcs", self.switches)

    def get(self, name: str) -> str:
        return self.sandbox.config.get(name)

    @property
    def webhook(self) -> str:
        return f"{self.sandbox.config.webhook_base}/rcs/webhook"

    # --- OAuth --------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            account = json.loads(Path(self.get("RBM_SERVICE_ACCOUNT_FILE")).read_text())
            public = serialization.load_pem_private_key(account["private_key"].encode(), None).public_key()
            claims = jwt.decode(str(form.get("assertion") or ""), public, algorithms=["RS256"],
                                audience=account["token_uri"])
        except (OSError, ValueError, KeyError, jwt.PyJWTError):
            return web.json_response({"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                                     status=400)
        if claims.get("iss") != account.get("client_email") or "rcsbusinessmessaging" not in str(claims.get("scope")):
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _authorised(self, request: web.Request) -> Optional[web.Response]:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if request.query.get("agentId") != self.get("RBM_AGENT_ID"):
            return _google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return None

    # --- the API ------------------------------------------------------------------------
    async def capabilities(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        phone = request.match_info["phone"]
        self.capability_checks.append(phone)
        if phone in self.not_capable:
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        return web.json_response({"features": FEATURES})

    async def send(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        phone, message_id = request.match_info["phone"], request.query.get("messageId", "")
        body = await _json(request)
        fault = await self.sandbox._fault("rcs")
        if fault is not None:
            return fault
        if phone in self.not_capable:
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        problem = _content_problem(body) or (None if message_id else "messageId is required")
        if problem:
            return _google_error(400, "INVALID_ARGUMENT", problem)
        content = body["contentMessage"]
        self.sandbox._record("rcs", phone, message_id, body, _view(content))
        if phone in self.offline:
            self.pending[message_id] = {"to": phone}
        elif self.sandbox.receipts:
            self.sandbox._spawn(self._receipts(message_id, phone))
        now = p.rbm_time()
        return web.json_response({"name": f"phones/{phone}/agentMessages/{message_id}", "sendTime": now,
                                  "contentMessage": content})

    async def revoke(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        message_id = request.match_info["message_id"]
        if self.pending.pop(message_id, None) is None:
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        self.revoked.append(message_id)
        return web.json_response({})

    async def agent_event(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        body = await _json(request)
        self.agent_events.append({"to": request.match_info["phone"], **body})
        return web.json_response({"name": f"phones/{request.match_info['phone']}/agentEvents/"
                                          f"{request.query.get('eventId', '')}", **body})

    async def switches(self, request: web.Request) -> web.Response:
        data = await _json(request)
        phone = str(data.get("address") or "").strip()
        if not phone.startswith("+"):
            return web.json_response({"error": "address must be an E.164 phone"}, status=400)
        if "capable" in data:
            (self.not_capable.discard if data["capable"] else self.not_capable.add)(phone)
        if "online" in data:
            (self.offline.discard if data["online"] else self.offline.add)(phone)
        expired = 0
        if data.get("expire"):
            for message_id in [m for m, pending in self.pending.items() if pending["to"] == phone]:
                expired += bool(await self.expire(message_id))
        return web.json_response({"address": phone, "capable": phone not in self.not_capable,
                                  "online": phone not in self.offline, "expired": expired})

    # --- what RBM sends the webhook -----------------------------------------------------
    def delivery(self, event: Dict[str, Any]) -> p.Delivery:
        return p.rbm_delivery(self.get("RBM_CLIENT_TOKEN"), event)

    async def expire(self, message_id: str) -> int:
        """The message's TTL ran out while the phone was offline: RBM revokes it and says so."""
        pending = self.pending.pop(message_id, None)
        if pending is None:
            return 0  # delivered already: RBM sends nothing
        self.revoked.append(message_id)
        event = p.rbm_server_event(self.get("RBM_AGENT_ID"), pending["to"], "TTL_EXPIRATION_REVOKED", message_id)
        return await self.sandbox.post_webhook(self.webhook, self.delivery(event))

    async def _receipts(self, message_id: str, phone: str) -> None:
        for event_type in ("DELIVERED", "READ"):
            await asyncio.sleep(0.2)
            event = p.rbm_user_event(self.get("RBM_AGENT_ID"), phone, event_type, message_id)
            await self.sandbox.post_webhook(self.webhook, self.delivery(event))

    def inbound(self, phone: str, data: Dict[str, Any]) -> tuple:
        text, payload, title = data.get("text"), data.get("payload"), data.get("title")
        message = p.rbm_user_message(self.get("RBM_AGENT_ID"), phone, text=text if payload is None else None,
                                     postback=payload, title=title)
        self.not_capable.discard(phone)  # they write by RCS: they can get it
        return self.webhook, self.delivery(message), message["messageId"]


def _content_problem(body: Dict[str, Any]) -> Optional[str]:
    content = body.get("contentMessage")
    if not isinstance(content, dict):
        return "contentMessage is required"
    ttl = str(body.get("ttl") or "")
    if ttl and not (ttl.endswith("s") and ttl[:-1].replace(".", "", 1).isdigit()):
        return "ttl must be a duration like '3600s'"
    suggestions = content.get("suggestions") or []
    if len(suggestions) > 11:
        return "at most 11 suggestions"
    if any(len(s.get("reply", s.get("action", {})).get("text", "")) > 25 for s in suggestions):
        return "suggestion text is at most 25 characters"
    if len(content.get("text") or "") > 3072:
        return "text is at most 3072 characters"
    carousel = ((content.get("richCard") or {}).get("carouselCard") or {}).get("cardContents")
    if carousel is not None and not 2 <= len(carousel) <= 10:
        return "a carousel has 2 to 10 cards"
    if not any(k in content for k in ("text", "richCard", "contentInfo", "uploadedRbmFile")):
        return "contentMessage needs text, richCard, contentInfo or uploadedRbmFile"
    return None


def _view(content: Dict[str, Any]) -> Dict[str, Any]:
    """What the simulator shows of an agent message."""
    rich = content.get("richCard") or {}
    cards = ([rich["standaloneCard"]["cardContent"]] if "standaloneCard" in rich else
             (rich.get("carouselCard") or {}).get("cardContents") or [])
    suggestions = [s.get("reply", {}) for s in content.get("suggestions") or []]
    for card in cards:
        suggestions += [s.get("reply", {}) for s in card.get("suggestions") or []]
    return {"text": content.get("text") or "\n".join(
                " - ".join(filter(None, (c.get("title"), c.get("description")))) for c in cards),
            "cards": [{"title": c.get("title"), "description": c.get("description"),
                       "image": ((c.get("media") or {}).get("contentInfo") or {}).get("fileUrl")} for c in cards],
            "buttons": [s.get("text") for s in suggestions], "payloads": [s.get("postbackData") for s in suggestions],
            "image": (content.get("contentInfo") or {}).get("fileUrl")}


async def _json(request: web.Request) -> Dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
