"""The sandbox provider: an aiohttp app on loopback.

Outbound APIs, answering in the providers' real formats and limits:
  POST /graph/{version}/{phone_number_id}/messages          (WhatsApp Cloud API; also
       {"messaging_product": "whatsapp", "status": "read", "message_id": ...}: mark as read)
  POST /instagram/{version}/me/messages                     (Instagram messaging)
  POST /twilio/2010-04-01/Accounts/{sid}/Messages.json      (Twilio SMS; with MessagingServiceSid,
       Twilio RCS: threadline/sandbox/twilio_rcs.py, with the Content API /twilio-content/v1/Content)
  /rbm/...                                                  (Google RBM, RCS: threadline/sandbox/rbm.py)
After each send it delivers the receipts a provider would (WhatsApp statuses, the Instagram
echo, Twilio status callbacks), signed, to the real webhooks.

Customer side (page token needed, and only the page's own Origin: threadline/sandbox/access.py):
  GET  /                      the simulator page (`/?token=…` once, then a cookie)
  POST /sandbox/inbound       {channel, address, name?, text? | payload+title? | media?}
  GET  /sandbox/conversation  ?channel=&address=   what was said both ways
  GET  /sandbox/sent          every outbound API call recorded (tests)
  GET  /sandbox/reads         WhatsApp messages the business marked as read
  POST /sandbox/faults        {channel, responses: [[status, body(, {delay_s, headers})], ...]}
                              the channel's next API answers, optionally slow or with headers
  GET  /sandbox/config        the sandboxed channels
  GET  /health                {"status": "ok"}, open: the launcher's liveness check
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Tuple

import aiohttp
from aiohttp import web

from threadline.sandbox import payloads as p
from threadline.sandbox.access import access_guard
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.rbm import RbmSandbox
from threadline.sandbox.twilio_rcs import TwilioRcsSandbox

log = logging.getLogger("threadline.sandbox")
PAGE = Path(__file__).with_name("simulator.html")


class Sandbox:
    def __init__(self, config: SandboxConfig, receipts: bool = True) -> None:
        self.config = config
        self.receipts = receipts
        self.sent: List[Dict[str, Any]] = []
        self.reads: List[Dict[str, Any]] = []
        self.conversations: Dict[Tuple[str, str], List[Dict[str, Any]]] = defaultdict(list)
        self.faults: Dict[str, Deque[tuple]] = defaultdict(deque)
        self._session: Optional[aiohttp.ClientSession] = None
        self._background: set = set()
        self.rbm = RbmSandbox(self)
        self.twilio_rcs = TwilioRcsSandbox(self)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024, middlewares=[access_guard(self.config)])
        app.router.add_get("/health", self.health)
        app.router.add_get("/", self.page)
        app.router.add_post("/graph/{version}/{number_id}/messages", self.whatsapp_send)
        app.router.add_post("/instagram/{version}/me/messages", self.instagram_send)
        app.router.add_post("/twilio/2010-04-01/Accounts/{sid}/Messages.json", self.twilio_send)
        self.rbm.routes(app)
        self.twilio_rcs.routes(app)
        app.router.add_post("/sandbox/inbound", self.inbound)
        app.router.add_get("/sandbox/conversation", self.conversation)
        app.router.add_get("/sandbox/sent", self.sent_list)
        app.router.add_get("/sandbox/reads", self.read_list)
        app.router.add_delete("/sandbox/sent", self.reset)
        app.router.add_post("/sandbox/faults", self.add_faults)
        app.router.add_get("/sandbox/config", self.public_config)
        app.on_cleanup.append(self._close)
        return app

    # --- outbound APIs ------------------------------------------------------------------
    async def whatsapp_send(self, request: web.Request) -> web.Response:
        if not _bearer_ok(request, self.config.get("WHATSAPP_ACCESS_TOKEN")):
            return _graph_error(401, 190, "Invalid OAuth access token.")
        if request.match_info["number_id"] != self.config.get("WHATSAPP_PHONE_NUMBER_ID"):
            return _graph_error(400, 100, "Unsupported post request: unknown phone number id")
        body = await _json_body(request)
        if "status" in body:
            return self._whatsapp_read(body)
        fault = await self._fault("whatsapp")
        if fault is not None:  # (a Response is an empty mapping: falsy)
            return fault
        to = body.get("to") or body.get("recipient")
        kind = body.get("type")
        problem = _whatsapp_problem(body)
        if problem or not to:
            return _graph_error(400, 100, problem or "missing recipient")
        message_id = p.new_wamid()
        self._record("whatsapp", to, message_id, body, _whatsapp_view(body))
        if self.receipts and kind != "template":
            self._spawn(self._whatsapp_receipts(message_id, to))
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": message_id}]})

    def _whatsapp_read(self, body: Dict[str, Any]) -> web.Response:
        """Mark as read: no message is sent and no receipt comes back; the customer sees blue ticks."""
        message_id = body.get("message_id")
        if body.get("messaging_product") != "whatsapp" or body.get("status") != "read" or not message_id:
            return _graph_error(400, 100, "Invalid parameter: status must be read, with message_id")
        self.reads.append({"message_id": message_id, "at": time.time()})
        for entries in self.conversations.values():
            for entry in entries:
                if entry["direction"] == "in" and entry["id"] == message_id:
                    entry["read"] = True
        return web.json_response({"success": True})

    async def instagram_send(self, request: web.Request) -> web.Response:
        if not _bearer_ok(request, self.config.get("INSTAGRAM_ACCESS_TOKEN")):
            return _graph_error(401, 190, "Invalid OAuth access token.")
        body = await _json_body(request)
        fault = await self._fault("instagram")
        if fault is not None:  # (a Response is an empty mapping: falsy)
            return fault
        to = (body.get("recipient") or {}).get("id")
        message = body.get("message") or {}
        text = message.get("text") or ""
        if not to or not message:
            return _graph_error(400, 100, "recipient and message are required")
        if len(text.encode()) > 1000:
            return _graph_error(400, 100, "Length of param message[text] must be less than or equal to 1000")
        if len(message.get("quick_replies") or []) > 13:
            return _graph_error(400, 100, "param message[quick_replies] must have at most 13 items")
        message_id = p.new_ig_mid()
        view = {"text": text, "buttons": [q["title"] for q in message.get("quick_replies") or []],
                "payloads": [q["payload"] for q in message.get("quick_replies") or []],
                "tag": body.get("tag"), "image": (message.get("attachment") or {}).get("payload", {}).get("url")}
        self._record("instagram", to, message_id, body, view)
        if self.receipts:
            self._spawn(self._instagram_echo(message_id, to, text))
        return web.json_response({"recipient_id": to, "message_id": message_id})

    async def twilio_send(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        expected = "Basic " + base64.b64encode(
            f"{self.config.get('TWILIO_ACCOUNT_SID')}:{self.config.get('TWILIO_AUTH_TOKEN')}".encode()).decode()
        if not self.config.get("TWILIO_AUTH_TOKEN") or sid != self.config.get("TWILIO_ACCOUNT_SID") \
                or not _same(request.headers.get("Authorization"), expected):
            return _twilio_error(401, 20003, "Authenticate")
        form = dict(await request.post())
        fault = await self._fault("sms")
        if fault is not None:  # (a Response is an empty mapping: falsy)
            return fault
        if "MessagingServiceSid" in form:  # RCS (or SMS) as the Messaging Service picks it
            return self.twilio_rcs.send(sid, form)
        body, to = form.get("Body", ""), form.get("To", "")
        if not to or (not body and not form.get("MediaUrl")):
            return _twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        message_sid = p.new_twilio_sid()
        self._record("sms", to, message_sid, form, {"text": body, "image": form.get("MediaUrl")})
        if self.receipts and form.get("StatusCallback"):
            self._spawn(self._twilio_callbacks(form["StatusCallback"], message_sid, to))
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return web.json_response({
            "sid": message_sid, "account_sid": sid, "to": to, "from": form.get("From"), "body": body,
            "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
            "date_created": now, "date_updated": now, "error_code": None, "error_message": None,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        }, status=201)

    # --- customer side ------------------------------------------------------------------
    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def page(self, _: web.Request) -> web.Response:
        return web.FileResponse(PAGE)

    async def public_config(self, _: web.Request) -> web.Response:
        return web.json_response({"channels": list(self.config.channels),
                                  "twilio_rcs": bool(self.config.get("TWILIO_MESSAGING_SERVICE_SID"))})

    async def inbound(self, request: web.Request) -> web.Response:
        data = await _json_body(request)
        channel, address = data.get("channel"), str(data.get("address") or "").strip()
        if channel not in self.config.channels or not address:
            return web.json_response({"error": "pick a sandboxed channel and an address"}, status=400)
        url, delivery, message_id = self.build_inbound(channel, address, data)
        # Recorded before the webhook call: a fast bot may answer before that call returns,
        # and the conversation must still read in the order the customer saw it.
        entry = {"direction": "in", "id": message_id, "at": time.time(), "text": data.get("title") or data.get("text"),
                 "media": data.get("media"), "webhook_status": None}
        self.conversations[(channel, address)].append(entry)
        entry["webhook_status"] = status = await self.post_webhook(url, delivery)
        return web.json_response({"webhook_status": status, "message_id": message_id})

    def build_inbound(self, channel: str, address: str, data: Dict[str, Any]) -> Tuple[str, p.Delivery, str]:
        text, payload, title, media = data.get("text"), data.get("payload"), data.get("title"), data.get("media")
        get = self.config.get
        if channel == "whatsapp":
            message_id = p.new_wamid()
            if payload:
                message = p.whatsapp_message("interactive", address, {"type": "button_reply", "button_reply":
                                             {"id": payload, "title": title or payload}}, message_id=message_id)
            elif media:
                message = p.whatsapp_message(media, address, {"id": "sbx" + message_id[-12:], "mime_type":
                                             "image/jpeg", "caption": text or ""} if media != "location" else
                                             {"latitude": -23.55, "longitude": -46.63, "name": "Sandbox"},
                                             message_id=message_id)
            else:
                message = p.whatsapp_message("text", address, {"body": text or ""}, message_id=message_id)
            envelope = p.whatsapp_envelope(get("WHATSAPP_PHONE_NUMBER_ID"), [message],
                                           contacts=[p.whatsapp_contact(address, data.get("name") or "Sandbox customer")])
            return f"{self.config.webhook_base}/whatsapp/webhook", p.meta_delivery(get("WHATSAPP_APP_SECRET"), envelope), message_id
        if channel == "instagram":
            mid = p.new_ig_mid()
            message: Dict[str, Any] = {"mid": mid}
            if text:
                message["text"] = text
            if payload:
                message.update(text=title or payload, quick_reply={"payload": payload})
            if media:
                message["attachments"] = [{"type": media, "payload": {"url": f"https://lookaside.example/{mid[-8:]}.jpg"}}]
            item = p.instagram_item(address, get("INSTAGRAM_ACCOUNT_ID"), message=message)
            envelope = p.instagram_envelope(get("INSTAGRAM_ACCOUNT_ID"), [item])
            return f"{self.config.webhook_base}/instagram/webhook", p.meta_delivery(get("INSTAGRAM_APP_SECRET"), envelope), mid
        if channel == "rcs":
            return self.rbm.inbound(address, data)
        if data.get("rcs"):  # RCS through Twilio's Messaging Service: the SMS webhook, from rcs:+55…
            return self.twilio_rcs.inbound(address, data)
        url = get("TWILIO_WEBHOOK_URL") or f"{self.config.webhook_base}/sms/webhook"
        media_list = [(f"https://api.twilio.example/Media/ME{address[-4:]}", "image/jpeg")] if media else []
        params = p.twilio_inbound(get("TWILIO_ACCOUNT_SID"), address, get("TWILIO_FROM_NUMBER"),
                                  text if text is not None else (payload or ""), media_list)
        return url, p.twilio_delivery(get("TWILIO_AUTH_TOKEN"), url, params), params["MessageSid"]

    async def conversation(self, request: web.Request) -> web.Response:
        key = (request.query.get("channel", ""), request.query.get("address", ""))
        return web.json_response({"messages": self.conversations.get(key, [])})

    async def sent_list(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        return web.json_response({"sent": [s for s in self.sent if not channel or s["channel"] == channel]})

    async def read_list(self, _: web.Request) -> web.Response:
        return web.json_response({"reads": self.reads})

    async def reset(self, _: web.Request) -> web.Response:
        self.sent.clear()
        self.reads.clear()
        self.conversations.clear()
        return web.json_response({"ok": True})

    async def add_faults(self, request: web.Request) -> web.Response:
        data = await _json_body(request)
        for status, body, *how in data.get("responses", []):
            self.faults[data.get("channel", "")].append((int(status), body, how[0] if how else {}))
        return web.json_response({"queued": len(self.faults[data.get("channel", "")])})

    # --- helpers ------------------------------------------------------------------------
    def _record(self, channel: str, to: str, message_id: str, body: Dict[str, Any], view: Dict[str, Any]) -> None:
        entry = {"channel": channel, "to": to, "id": message_id, "at": time.time(), "body": body}
        self.sent.append(entry)
        self.conversations[(channel, to)].append({"direction": "out", "id": message_id, "at": entry["at"], **view})

    async def _fault(self, channel: str) -> Optional[web.Response]:
        """The next queued answer for `channel`: after `delay_s` (a provider that is slow to
        answer) and with `headers` (e.g. Retry-After), when the fault names them."""
        if not self.faults[channel]:
            return None
        status, body, *rest = self.faults[channel].popleft()  # tests may queue (status, body) directly
        how = rest[0] if rest else {}
        await asyncio.sleep(float(how.get("delay_s") or 0))
        return web.json_response(body, status=status, headers=how.get("headers"))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def post_webhook(self, url: str, delivery: p.Delivery) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(url, data=delivery.body, headers=delivery.headers) as response:
                return response.status
        except aiohttp.ClientError as error:
            log.warning("sandbox: webhook %s unreachable (%s)", url, type(error).__name__)
            return 0

    async def _whatsapp_receipts(self, message_id: str, to: str) -> None:
        for status in ("sent", "delivered"):
            await asyncio.sleep(0.2)
            envelope = p.whatsapp_envelope(self.config.get("WHATSAPP_PHONE_NUMBER_ID"),
                                           statuses=[p.whatsapp_status(message_id, status, to)])
            await self.post_webhook(f"{self.config.webhook_base}/whatsapp/webhook",
                                    p.meta_delivery(self.config.get("WHATSAPP_APP_SECRET"), envelope))

    async def _instagram_echo(self, message_id: str, to: str, text: str) -> None:
        await asyncio.sleep(0.1)
        account = self.config.get("INSTAGRAM_ACCOUNT_ID")
        item = p.instagram_item(account, to, message={"mid": message_id, "text": text, "is_echo": True})
        await self.post_webhook(f"{self.config.webhook_base}/instagram/webhook",
                                p.meta_delivery(self.config.get("INSTAGRAM_APP_SECRET"),
                                                p.instagram_envelope(account, [item])))

    async def _twilio_callbacks(self, url: str, message_sid: str, to: str,
                                statuses: Tuple[str, ...] = ("sent", "delivered")) -> None:
        for status in statuses:
            await asyncio.sleep(0.2)
            params = p.twilio_status(self.config.get("TWILIO_ACCOUNT_SID"), message_sid, status, to)
            await self.post_webhook(url, p.twilio_delivery(self.config.get("TWILIO_AUTH_TOKEN"), url, params))

    async def _close(self, _: web.Application) -> None:
        for task in list(self._background):
            task.cancel()
        if self._session is not None:
            await self._session.close()


def _whatsapp_problem(body: Dict[str, Any]) -> Optional[str]:
    kind = body.get("type")
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if kind == "text" and len((body.get("text") or {}).get("body", "")) > 4096:
        return "text.body is longer than 4096 characters"
    if kind == "interactive":
        interactive = body.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            buttons = action.get("buttons") or []
            if not 1 <= len(buttons) <= 3 or any(len(b["reply"]["title"]) > 20 for b in buttons):
                return "interactive buttons: 1 to 3 buttons, titles up to 20 characters"
        if interactive.get("type") == "list":
            rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
            if not 1 <= len(rows) <= 10 or any(len(r["title"]) > 24 for r in rows):
                return "interactive list: 1 to 10 rows, titles up to 24 characters"
    return None


def _whatsapp_view(body: Dict[str, Any]) -> Dict[str, Any]:
    kind = body.get("type")
    if kind == "text":
        return {"text": body["text"]["body"]}
    if kind == "interactive":
        interactive = body["interactive"]
        action = interactive["action"]
        options = ([b["reply"] for b in action.get("buttons", [])] or
                   [r for s in action.get("sections", []) for r in s.get("rows", [])])
        return {"text": interactive["body"]["text"], "buttons": [o["title"] for o in options],
                "payloads": [o["id"] for o in options]}
    if kind == "image":
        return {"image": body["image"].get("link")}
    if kind == "template":
        return {"text": f"[template {body['template']['name']}]"}
    return {"text": f"[{kind}]"}


def _bearer_ok(request: web.Request, token: str) -> bool:
    """The generated access token, as Meta checks it (none generated: nobody gets in)."""
    return bool(token) and _same(request.headers.get("Authorization"), f"Bearer {token}")


def _same(presented: Optional[str], expected: str) -> bool:
    """Constant-time comparison of a presented credential with the generated one."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def _graph_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                        "fbtrace_id": "Sandbox"}}, status=status)


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)


async def _json_body(request: web.Request) -> Dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
