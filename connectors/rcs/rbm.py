"""Google RBM (RCS Business Messaging) REST API v1: OAuth, capability checks, agent messages.

- OAuth 2.0 with the agent's service account (RBM_SERVICE_ACCOUNT_FILE, the JSON key from the
  Business Communications console): a JWT signed RS256 with its private key is exchanged at
  its `token_uri` for an access token (scope rcsbusinessmessaging), reused until shortly
  before it expires.
- `GET /v1/phones/{E164}/capabilities?requestId=&agentId=`: 200 `{"features": [...]}`, or
  404 when the phone cannot get RCS from us. Cached in Redis for 24 h per phone
  (`tl:rcs:capability:<E164>`), also learned from inbound RCS messages and from 404/403 on send.
- `POST /v1/phones/{E164}/agentMessages?messageId=&agentId=` with `{"contentMessage": …,
  "ttl": "3600s"}`: 404 NOT_FOUND (not RCS capable) or 403 PERMISSION_DENIED (agent not
  launched on the customer's carrier) mean "send it by SMS instead".
- `DELETE /v1/phones/{E164}/agentMessages/{id}?agentId=`: revoke a message not yet delivered.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote

import aiohttp
import jwt
from redis.asyncio import Redis

from connectors.webhook.sender import ProviderClient, RetryPolicy, SendFailed

DEFAULT_API_URL = "https://rcsbusinessmessaging.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
CAPABILITY_TTL_S = 24 * 3600
POLICY = RetryPolicy()
# A capability check decides where one message goes: one retry at most, then SMS.
CHECK_POLICY = RetryPolicy(attempts=2, base_delay_s=0.3)
TEXT_LIMIT = 3072
SUGGESTION_TEXT_LIMIT = 25
POSTBACK_LIMIT = 2048
MAX_SUGGESTIONS = 11  # suggested replies under a message
MAX_CARD_SUGGESTIONS = 4
CARD_TITLE_LIMIT = 200
CARD_DESCRIPTION_LIMIT = 2000
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
# What a capability answer, cached, says about a phone.
CAPABLE, NOT_CAPABLE, NOT_LAUNCHED = "capable", "not_capable", "not_launched"


def google_error_code(body: dict) -> Any:
    """`{"error": {"code": 404, "status": "NOT_FOUND", …}}` → "NOT_FOUND"."""
    error = body.get("error")
    return error.get("status") or error.get("code") if isinstance(error, dict) else None


class ServiceAccountToken:
    """Access tokens for one service account key file, fetched on demand and cached."""

    def __init__(self, key_file: str) -> None:
        self.key_file = key_file
        self._token: Optional[str] = None
        self._expires_at = 0.0

    def _key(self) -> Dict[str, str]:
        try:
            key = json.loads(Path(self.key_file).read_text())
            return {name: str(key[name]) for name in ("client_email", "private_key", "token_uri")}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SendFailed(0, "service_account", f"RBM_SERVICE_ACCOUNT_FILE unreadable ({type(error).__name__})")

    async def header(self, session_factory: Callable[[], aiohttp.ClientSession]) -> Dict[str, str]:
        # No lock: two turns refreshing at once both get a valid token.
        if self._token is None or time.time() > self._expires_at - 60:
            await self._refresh(session_factory)
        return {"Authorization": f"Bearer {self._token}"}

    async def _refresh(self, session_factory: Callable[[], aiohttp.ClientSession]) -> None:
        key = self._key()
        now = int(time.time())
        assertion = jwt.encode({"iss": key["client_email"], "scope": SCOPE, "aud": key["token_uri"],
                                "iat": now, "exp": now + 3600}, key["private_key"], algorithm="RS256")
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        client = ProviderClient(session_factory, CHECK_POLICY, lambda body: body.get("error"))
        body = await client.post(key["token_uri"], form=form)
        if not body.get("access_token"):
            raise SendFailed(0, "oauth", "token endpoint answered without access_token")
        self._token = str(body["access_token"])
        self._expires_at = time.time() + float(body.get("expires_in") or 3600)

    def forget(self) -> None:
        """The API refused the token (401): fetch a new one next time."""
        self._token = None


@dataclass(frozen=True)
class Capability:
    state: str  # CAPABLE, NOT_CAPABLE or NOT_LAUNCHED
    features: tuple = ()

    @property
    def capable(self) -> bool:
        return self.state == CAPABLE


class RbmApi:
    """One agent's calls to the RBM API, with the capability cache in Redis."""

    def __init__(self, api_url: str, agent_id: str, token: ServiceAccountToken,
                 session_factory: Callable[[], aiohttp.ClientSession], redis: Redis) -> None:
        self.base = f"{api_url.rstrip('/')}/v1"
        self.agent_id = agent_id
        self.token = token
        self.session_factory = session_factory
        self.redis = redis
        self.client = ProviderClient(session_factory, POLICY, google_error_code)
        self.check_client = ProviderClient(session_factory, CHECK_POLICY, google_error_code)

    def _phone(self, phone: str) -> str:
        return f"{self.base}/phones/{quote(phone, safe='+')}"

    async def _call(self, client: ProviderClient, method: str, url: str, body: Optional[dict] = None) -> dict:
        for attempt in (1, 2):
            try:
                return await client.request(method, url, json_body=body,
                                            headers=await self.token.header(self.session_factory))
            except SendFailed as error:
                if error.status != 401 or attempt == 2:
                    raise
                self.token.forget()  # revoked or expired early: one new token, one more try
        raise AssertionError("unreachable")

    # --- capability ----------------------------------------------------------------------
    async def capability(self, phone: str) -> Capability:
        """Cached for 24 h; asks RBM when nothing is cached. An API error (not a 404) is not
        cached and counts as not capable for this message."""
        cached = await self.redis.get(_capability_key(phone))
        if cached:
            data = json.loads(cached)
            return Capability(data["state"], tuple(data.get("features") or ()))
        url = f"{self._phone(phone)}/capabilities?requestId={uuid.uuid4()}&agentId={quote(self.agent_id)}"
        try:
            body = await self._call(self.check_client, "GET", url)
        except SendFailed as error:
            if error.status == 404:
                return await self.remember(phone, NOT_CAPABLE)
            if error.status == 403:
                return await self.remember(phone, NOT_LAUNCHED)
            raise
        features = [str(f) for f in body.get("features") or [] if isinstance(f, str)]
        return await self.remember(phone, CAPABLE, features)

    async def remember(self, phone: str, state: str, features: Optional[List[str]] = None) -> Capability:
        """Cache what we learnt about `phone` for 24 h (an inbound RCS message proves it capable)."""
        if state == CAPABLE and features is None:
            cached = await self.redis.get(_capability_key(phone))
            features = json.loads(cached).get("features") if cached else None
        data = {"state": state, "features": list(features or ())}
        await self.redis.set(_capability_key(phone), json.dumps(data), ex=CAPABILITY_TTL_S)
        return Capability(state, tuple(data["features"]))

    # --- messages --------------------------------------------------------------------------
    async def send(self, phone: str, message_id: str, content: Dict[str, Any], ttl_s: int) -> dict:
        url = f"{self._phone(phone)}/agentMessages?messageId={quote(message_id)}&agentId={quote(self.agent_id)}"
        return await self._call(self.client, "POST", url, {"contentMessage": content, "ttl": f"{ttl_s}s"})

    async def event(self, phone: str, event_type: str, message_id: Optional[str] = None) -> None:
        """An agent event (READ of the customer's message, IS_TYPING); one attempt."""
        url = f"{self._phone(phone)}/agentEvents?eventId={uuid.uuid4()}&agentId={quote(self.agent_id)}"
        body = {"eventType": event_type, **({"messageId": message_id} if message_id else {})}
        await self._call(ProviderClient(self.session_factory, RetryPolicy(attempts=1), google_error_code),
                         "POST", url, body)

    async def revoke(self, phone: str, message_id: str) -> bool:
        """True when RBM revoked the message (it was not delivered yet)."""
        url = f"{self._phone(phone)}/agentMessages/{quote(message_id)}?agentId={quote(self.agent_id)}"
        try:
            await self._call(self.check_client, "DELETE", url)
        except SendFailed:
            return False
        return True


def _capability_key(phone: str) -> str:
    return f"tl:rcs:capability:{phone}"


# --- content -----------------------------------------------------------------------------
def suggestion(title: str, payload: str) -> Dict[str, Any]:
    return {"reply": {"text": title[:SUGGESTION_TEXT_LIMIT], "postbackData": payload[:POSTBACK_LIMIT]}}


def suggestions_fit(options: List[Dict[str, str]], limit: int = MAX_SUGGESTIONS) -> bool:
    return 0 < len(options) <= limit and all(
        0 < len(o["title"]) <= SUGGESTION_TEXT_LIMIT and len(o["payload"]) <= POSTBACK_LIMIT for o in options)


def card_content(card: Dict[str, Any]) -> Dict[str, Any]:
    """RBM `CardContent` from our card shape {title, description, image, options}."""
    content: Dict[str, Any] = {}
    if card.get("title"):
        content["title"] = str(card["title"])[:CARD_TITLE_LIMIT]
    if card.get("description"):
        content["description"] = str(card["description"])[:CARD_DESCRIPTION_LIMIT]
    if card.get("image"):
        content["media"] = {"height": "MEDIUM", "contentInfo": {"fileUrl": str(card["image"]),
                                                                 "forceRefresh": False}}
    options = card.get("options") or []
    if options:
        content["suggestions"] = [suggestion(o["title"], o["payload"]) for o in options[:MAX_CARD_SUGGESTIONS]]
    return content
