"""RCS through Twilio: a Messaging Service with an RCS sender (and the SMS number) sends every
reply; Twilio checks the phone's RCS capability and falls back to SMS by itself.

Rich messages (a card, a carousel) go as Content API templates (`ContentSid` +
`ContentVariables`) carrying two types: `twilio/card` or `twilio/carousel` for RCS and
`twilio/text` with the SMS version (numbered options, as connectors/rcs/content.py makes it).
One template per shape: the texts, descriptions and image file names are variables, the
buttons are part of the shape. Templates are created once through the Content API
(POST {TWILIO_CONTENT_API_URL}/v1/Content) and their sid kept in Redis (`tl:twilio:content:<hash>`).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, List, Tuple

import aiohttp
from redis.asyncio import Redis

from connectors.webhook.sender import ProviderClient, RetryPolicy

DEFAULT_CONTENT_API_URL = "https://content.twilio.com"
RCS_PREFIX = "rcs:"  # Twilio's address of a phone reached (or writing) by RCS
CONTENT_KEY = "tl:twilio:content:"
QUICK_REPLY_ID_LIMIT = 200  # characters of an action's `id` (returned as ButtonPayload)

Template = Dict[str, Any]


def phone_of(address: str) -> str:
    """`rcs:+5511…` (Twilio's RCS address) → `+5511…`; other addresses unchanged."""
    return address[len(RCS_PREFIX):] if address.lower().startswith(RCS_PREFIX) else address


class _Variables:
    def __init__(self) -> None:
        self.values: Dict[str, str] = {}

    def __call__(self, value: str) -> str:
        key = str(len(self.values) + 1)
        self.values[key] = value
        return "{{" + key + "}}"

    def media(self, url: str) -> str:
        """Twilio wants the media URL's host fixed in the template: only its path is a variable."""
        head, slash, tail = url.rpartition("/")
        return f"{head}{slash}{self(tail)}" if slash and tail else url


def _actions(card: Dict[str, Any]) -> List[Dict[str, str]]:
    return [{"type": "QUICK_REPLY", "title": s["reply"]["text"], "id": s["reply"]["postbackData"][:QUICK_REPLY_ID_LIMIT]}
            for s in card.get("suggestions") or [] if isinstance(s.get("reply"), dict)]


def _card(card: Dict[str, Any], var: _Variables) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if card.get("title"):
        out["title"] = var(card["title"])
    if card.get("description"):
        out["body"] = var(card["description"])
    url = ((card.get("media") or {}).get("contentInfo") or {}).get("fileUrl")
    if url:
        out["media"] = var.media(url)
    actions = _actions(card)
    if actions:
        out["actions"] = actions
    return out


def template(payload: Dict[str, Any]) -> Tuple[Template, Dict[str, str]]:
    """The Content API `types` of an RCS payload (connectors/rcs/content.py), with its variables."""
    var = _Variables()
    rich = payload["content"].get("richCard") or {}
    if "standaloneCard" in rich:
        card = _card(rich["standaloneCard"]["cardContent"], var)
        if "media" in card:
            card["media"] = [card["media"]]  # twilio/card takes a list of media URLs
        types: Template = {"twilio/card": card}
    else:
        cards = [_card(c, var) for c in (rich.get("carouselCard") or {}).get("cardContents") or []]
        # RCS drops a carousel's body text; Twilio still requires one.
        types = {"twilio/carousel": {"body": var(payload["sms"]["text"].split("\n", 1)[0] or "-"), "cards": cards}}
    types["twilio/text"] = {"body": var(payload["sms"]["text"])}
    return types, var.values


def shape_key(types: Template) -> str:
    return CONTENT_KEY + hashlib.sha256(json.dumps(types, sort_keys=True).encode()).hexdigest()[:32]


class ContentApi:
    """Creates (once per shape) and finds the Content API templates."""

    def __init__(self, api_url: str, auth: aiohttp.BasicAuth, session_factory: Callable[[], aiohttp.ClientSession],
                 redis: Redis, policy: RetryPolicy) -> None:
        self.url = f"{api_url.rstrip('/')}/v1/Content"
        self.redis = redis
        self.client = ProviderClient(session_factory, policy, lambda body: body.get("code"), auth=auth)

    async def sid_for(self, types: Template, samples: Dict[str, str], language: str = "pt_BR") -> str:
        key = shape_key(types)
        cached = await self.redis.get(key)
        if cached:
            return cached.decode()
        body = await self.client.request("POST", self.url, json_body={
            "friendly_name": "threadline_" + key[len(CONTENT_KEY):][:16], "language": language,
            "variables": samples, "types": types})
        sid = str(body["sid"])
        await self.redis.set(key, sid)
        return sid
