"""Who is at the other end of a web chat socket: the tokens a widget may present.

- visitor token (anonymous): random, issued by this server, `<random>.<mac>`; the MAC (keyed
  from WEBCHAT_JWT_SECRET) proves we issued it, so a widget cannot pick a guessable one. Its
  address is `v.<sha256 of the token>`: the secret itself is never stored or logged.
- site token (signed in): a JWT HS256 the site's backend signs with WEBCHAT_JWT_SECRET:
  `sub` (the site's user id), optional `email`/`phone`, `exp` at most an hour away, `jti`
  accepted once (`UsedTokenIds`, in Redis). Its address is `u.<sub>`.
- resume token: what a widget signed in with a site token keeps to reconnect (a site token
  is used once): `<sub as base64>.<expiry>.<mac>`, valid RESUME_TTL_S.
Every refusal is `TokenRefused(reason)`; the reason is a fixed phrase, safe to log.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import jwt
from redis.asyncio import Redis

MAX_SITE_TOKEN_S = 3600
LEEWAY_S = 30  # clocks of the site's backend and ours differ a little
RESUME_TTL_S = 12 * 3600
_SUB = re.compile(r"[A-Za-z0-9._\-]{1,100}")
USED_JTI_PREFIX = "tl:webchat:jti:"


class TokenRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SiteClaims:
    sub: str
    email: Optional[str]
    phone: Optional[str]

    @property
    def address(self) -> str:
        return user_address(self.sub)


def user_address(sub: str) -> str:
    """`u.<sub>`; a sub with other characters (or longer) is hashed, so any id fits."""
    if _SUB.fullmatch(sub):
        return f"u.{sub}"
    return "u.h" + hashlib.sha256(sub.encode()).hexdigest()[:40]


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()[:18]).decode()


class VisitorTokens:
    def __init__(self, secret: str) -> None:
        self._key = _key(secret, "threadline-webchat-visitor")

    def issue(self) -> str:
        random_part = secrets.token_urlsafe(24)
        return f"{random_part}.{_mac(self._key, random_part)}"

    def address(self, token: str) -> str:
        """The visitor's address; TokenRefused unless we issued `token`."""
        random_part, _, mac = (token or "").partition(".")
        if not random_part or len(token) > 100 or not hmac.compare_digest(mac.encode(), _mac(self._key, random_part).encode()):
            raise TokenRefused("visitor token not issued here")
        return "v." + hashlib.sha256(token.encode()).hexdigest()[:40]


class ResumeTokens:
    def __init__(self, secret: str) -> None:
        self._key = _key(secret, "threadline-webchat-resume")

    def issue(self, sub: str, now: Optional[float] = None) -> str:
        body = f"{base64.urlsafe_b64encode(sub.encode()).decode()}.{int((now or time.time()) + RESUME_TTL_S)}"
        return f"{body}.{_mac(self._key, body)}"

    def sub(self, token: str, now: Optional[float] = None) -> str:
        body, _, mac = (token or "").rpartition(".")
        if not body or not hmac.compare_digest(mac.encode(), _mac(self._key, body).encode()):
            raise TokenRefused("resume token forged")
        encoded, _, expires = body.partition(".")
        if not expires.isdigit() or int(expires) < (now or time.time()):
            raise TokenRefused("resume token expired")
        return base64.urlsafe_b64decode(encoded.encode()).decode()


class UsedTokenIds:
    """The `jti`s of site tokens already used, each kept until its token expires."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def first_use(self, jti: str, expires_at: float) -> bool:
        ttl = max(1, int(expires_at - time.time()) + LEEWAY_S)
        digest = hashlib.sha256(jti.encode()).hexdigest()
        return bool(await self.redis.set(USED_JTI_PREFIX + digest, 1, nx=True, ex=ttl))


class SiteTokens:
    def __init__(self, secret: str, used: UsedTokenIds) -> None:
        self.secret = secret
        self.used = used

    async def verify(self, token: str, now: Optional[float] = None) -> SiteClaims:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], leeway=LEEWAY_S,
                                options={"require": ["sub", "exp", "jti"]})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("site token expired") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("site token signature invalid") from None
        except jwt.PyJWTError:
            raise TokenRefused("site token malformed") from None
        now = now or time.time()
        if float(claims["exp"]) > now + MAX_SITE_TOKEN_S + LEEWAY_S:
            raise TokenRefused("site token lives longer than an hour")
        sub, jti = claims["sub"], claims["jti"]
        if not isinstance(sub, str) or not sub or not isinstance(jti, str) or not jti:
            raise TokenRefused("site token malformed")
        email, phone = claims.get("email"), claims.get("phone")
        if any(value is not None and not isinstance(value, str) for value in (email, phone)):
            raise TokenRefused("site token malformed")
        if not await self.used.first_use(jti, float(claims["exp"])):
            raise TokenRefused("site token already used")
        return SiteClaims(sub=sub, email=email or None, phone=phone or None)
