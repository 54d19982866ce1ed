"""The sandbox's Twilio RCS: Messaging Services and the Content API, in Twilio's wire format.

  POST /twilio-content/v1/Content   Content API: {friendly_name, language, variables, types}
       (twilio/text, twilio/card, twilio/carousel) → 201 {"sid": "HX…", …}
  POST /twilio/2010-04-01/Accounts/{sid}/Messages.json with `MessagingServiceSid` (instead of
       `From`; it must be TWILIO_MESSAGING_SERVICE_SID) and `Body` or `ContentSid` +
       `ContentVariables`: 201 "accepted". Twilio picks the channel as the real service does:
       RCS unless the phone is switched to "not RCS capable" (the same switch as RBM's,
       POST /sandbox/rcs), then SMS with the template's twilio/text. Status callbacks
       (sent, delivered, and read for RCS) name the phone `rcs:+55…` when it went by RCS.
Customer side: POST /sandbox/inbound {channel: "sms", rcs: true, …} writes from `rcs:+55…`,
a tap (payload) arriving as `ButtonPayload` + `ButtonText`.
"""
from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Dict, Optional, Tuple

from aiohttp import web

from threadline.sandbox import payloads as p

KNOWN_TYPES = ("twilio/text", "twilio/card", "twilio/carousel")
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")


def error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)


def fill(value: Any, variables: Dict[str, str]) -> Any:
    """The template with `{{n}}` replaced by the message's ContentVariables (or the samples)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), "")), value)
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, variables) for k, v in value.items()}
    return value


def _problem(types: Any) -> Optional[str]:
    if not isinstance(types, dict) or not types:
        return "types is required"
    unknown = [t for t in types if t not in KNOWN_TYPES]
    if unknown:
        return f"unsupported content type {unknown[0]}"
    carousel = types.get("twilio/carousel")
    if carousel is not None:
        cards = carousel.get("cards") or []
        if not carousel.get("body") or not 1 <= len(cards) <= 10:
            return "twilio/carousel needs a body and 1 to 10 cards"
        if any(not 1 <= len(c.get("actions") or []) <= 2 for c in cards):
            return "each carousel card has 1 or 2 buttons"
    card = types.get("twilio/card")
    if card is not None and not (card.get("title") or card.get("body")):
        return "twilio/card needs a title or a body"
    return None


def _view(types: Dict[str, Any], by_rcs: bool) -> Dict[str, Any]:
    """What the simulator shows: the card(s) by RCS, the twilio/text by SMS."""
    if not by_rcs or not ({"twilio/card", "twilio/carousel"} & set(types)):
        return {"text": (types.get("twilio/text") or {}).get("body", ""), "transport": "rcs" if by_rcs else "sms"}
    cards = [types["twilio/card"]] if "twilio/card" in types else types["twilio/carousel"]["cards"]
    actions = [a for c in cards for a in c.get("actions") or []]
    media = lambda c: c.get("media")[0] if isinstance(c.get("media"), list) and c.get("media") else c.get("media")  # noqa: E731
    return {"text": "\n".join(" - ".join(filter(None, (c.get("title"), c.get("body")))) for c in cards),
            "cards": [{"title": c.get("title"), "description": c.get("body"), "image": media(c)} for c in cards],
            "buttons": [a.get("title") for a in actions], "payloads": [a.get("id") for a in actions],
            "transport": "rcs"}


class TwilioRcsSandbox:
    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.contents: Dict[str, Dict[str, Any]] = {}  # ContentSid → the created template

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/twilio-content/v1/Content", self.create_content)

    def _authorised(self, request: web.Request) -> bool:
        get = self.sandbox.config.get
        expected = "Basic " + base64.b64encode(f"{get('TWILIO_ACCOUNT_SID')}:{get('TWILIO_AUTH_TOKEN')}".encode()).decode()
        return bool(get("TWILIO_AUTH_TOKEN")) and request.headers.get("Authorization") == expected

    async def create_content(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return error(401, 20003, "Authenticate")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return error(400, 20001, "Invalid JSON")
        problem = _problem(body.get("types"))
        if problem:
            return error(400, 21656, problem)
        sid = p.new_twilio_sid("HX")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.contents[sid] = {"sid": sid, "account_sid": self.sandbox.config.get("TWILIO_ACCOUNT_SID"),
                              "friendly_name": body.get("friendly_name"), "language": body.get("language") or "en",
                              "variables": body.get("variables") or {}, "types": body["types"],
                              "date_created": now, "date_updated": now,
                              "url": f"https://content.twilio.com/v1/Content/{sid}", "links": {}}
        return web.json_response(self.contents[sid], status=201)

    def send(self, sid: str, form: Dict[str, str]) -> web.Response:
        """A message through the Messaging Service (twilio_send calls this when the form names one)."""
        get = self.sandbox.config.get
        service, to = form.get("MessagingServiceSid", ""), form.get("To", "")
        if not get("TWILIO_MESSAGING_SERVICE_SID") or service != get("TWILIO_MESSAGING_SERVICE_SID"):
            return error(400, 21705, "The Messaging Service Sid is invalid")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if form.get("ContentSid"):
            template = self.contents.get(form["ContentSid"])
            if template is None:
                return error(400, 21655, "The ContentSid is Invalid.")
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                return error(400, 21656, "The ContentVariables Parameter is invalid.")
            types = fill(template["types"], {**template["variables"], **variables})
        elif form.get("Body"):
            if len(form["Body"]) > 1600:
                return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            types = {"twilio/text": {"body": form["Body"]}}
        else:
            return error(400, 21619, "A text message body or media urls must be specified.")
        by_rcs = to not in self.sandbox.rbm.not_capable
        message_sid = p.new_twilio_sid("MM" if form.get("ContentSid") else "SM")
        self.sandbox._record("sms", to, message_sid, form, _view(types, by_rcs))
        address = f"rcs:{to}" if by_rcs else to
        if self.sandbox.receipts and form.get("StatusCallback"):
            statuses = ("sent", "delivered", "read") if by_rcs else ("sent", "delivered")
            self.sandbox._spawn(self.sandbox._twilio_callbacks(form["StatusCallback"], message_sid, address, statuses))
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return web.json_response({
            "sid": message_sid, "account_sid": sid, "to": to, "from": None, "messaging_service_sid": service,
            "body": (types.get("twilio/text") or {}).get("body", ""), "status": "accepted", "num_segments": "0",
            "direction": "outbound-api", "api_version": "2010-04-01", "date_created": now, "date_updated": now,
            "error_code": None, "error_message": None, "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        }, status=201)

    def inbound(self, address: str, data: Dict[str, Any]) -> Tuple[str, p.Delivery, str]:
        """A customer writing (or tapping a button) by RCS through Twilio."""
        get = self.sandbox.config.get
        url = get("TWILIO_WEBHOOK_URL") or f"{self.sandbox.config.webhook_base}/sms/webhook"
        text, payload, title = data.get("text"), data.get("payload"), data.get("title")
        params = p.twilio_inbound(get("TWILIO_ACCOUNT_SID"), f"rcs:{address}",
                                  f"rcs:{get('TWILIO_MESSAGING_SERVICE_SID')}", title or text or payload or "")
        params["MessagingServiceSid"] = get("TWILIO_MESSAGING_SERVICE_SID")
        params["NumSegments"] = "0"
        if payload:
            params.update(ButtonPayload=payload, ButtonText=title or payload, MessageType="button")
        self.sandbox.rbm.not_capable.discard(address)  # they write by RCS: they can get it
        return url, p.twilio_delivery(get("TWILIO_AUTH_TOKEN"), url, params), params["MessageSid"]
