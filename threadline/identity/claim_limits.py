"""How many one-time codes may go out, and to which phones.

Every claim makes the bot write to somebody who did not ask for it, so limits per claimant
alone don't hold: twelve new accounts could each send a code to one victim (flooding,
SMS pumping, twelve times the guesses). A claim is admitted only while all of its windows
have room:

- per target: at most `PER_TARGET_PER_HOUR` codes to one address or number, whoever asks;
- per claimant: at most `PER_CLAIMANT_PER_HOUR` claims by one customer;
- overall: at most `CLAIM_CODES_PER_HOUR` claims in the whole service.

Each window is a Redis sorted set of claim ids scored by time (a sliding hour). One Lua
script checks every window of a claim and records it in all of them, or in none: concurrent
claims in several action-server processes cannot overshoot. Targets are stored as SHA-256
digests, never in clear. The keys share one hash tag, so the script also runs on a cluster.

Phone codes (SMS, and WhatsApp with its SMS fallback) go only to numbers of the countries in
`CLAIM_SMS_COUNTRIES` (ISO 3166 codes, default `BR`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
from datetime import datetime, timedelta, timezone
from typing import FrozenSet, List, Optional

import phonenumbers
import redis.asyncio as aioredis

from threadline.conversation.redis_connection import connect

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
PER_TARGET_PER_HOUR = 3
PER_CLAIMANT_PER_HOUR = 3
DEFAULT_CODES_PER_HOUR = 200
DEFAULT_SMS_COUNTRIES = "BR"
PREFIX = "tl:{claims}:"

# Why a claim was refused, as logged (never the address) and as `ClaimRefused.reason`.
TARGET_LIMIT = "target_limit"
CLAIMANT_LIMIT = "claimant_limit"
OVERALL_LIMIT = "overall_limit"
PHONE_COUNTRY = "phone_country"

# KEYS: the claim's windows. ARGV[1]: now (ms), ARGV[2]: window (ms), ARGV[3]: claim id,
# ARGV[3 + i]: the limit of KEYS[i]. Returns 0 when admitted (recorded in every window),
# else the index of the first full window (recorded nowhere).
_ADMIT = """
local now, span = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, span)
end
return 0
"""


class ClaimRefused(ValueError):
    """A limit (or the phone's country) does not allow this claim now; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"identity claim refused: {reason}")
        self.reason = reason


def target_digest(identifier_key: str) -> str:
    return hashlib.sha256(identifier_key.encode()).hexdigest()[:32]


class PhoneCountries:
    """The countries whose phone numbers may receive a code."""

    def __init__(self, regions: FrozenSet[str]) -> None:
        self.regions = regions

    @classmethod
    def parse(cls, raw: str) -> "PhoneCountries":
        regions = frozenset(part.strip().upper() for part in raw.split(",") if part.strip())
        unknown = sorted(regions - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"CLAIM_SMS_COUNTRIES: not ISO 3166 country codes: {', '.join(unknown)}")
        return cls(regions or frozenset({DEFAULT_SMS_COUNTRIES}))

    def allows(self, e164: str) -> bool:
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.region_code_for_number(number) in self.regions


class ClaimLimits:
    def __init__(self, redis: aioredis.Redis, codes_per_hour: int = DEFAULT_CODES_PER_HOUR,
                 phone_countries: PhoneCountries = PhoneCountries(frozenset({DEFAULT_SMS_COUNTRIES}))) -> None:
        if codes_per_hour < 1:
            raise ValueError("CLAIM_CODES_PER_HOUR must be at least 1")
        self.redis = redis
        self.codes_per_hour = codes_per_hour
        self.phone_countries = phone_countries
        self._admit = redis.register_script(_ADMIT)

    @classmethod
    def from_env(cls, redis_url: str) -> "ClaimLimits":
        raw = os.environ.get("CLAIM_CODES_PER_HOUR", "").strip()
        try:
            per_hour = int(raw) if raw else DEFAULT_CODES_PER_HOUR
        except ValueError:
            raise ValueError(f"CLAIM_CODES_PER_HOUR must be a whole number, got {raw!r}") from None
        countries = PhoneCountries.parse(os.environ.get("CLAIM_SMS_COUNTRIES", DEFAULT_SMS_COUNTRIES))
        return cls(connect(redis_url), per_hour, countries)

    def check_phone(self, e164: str) -> None:
        if not self.phone_countries.allows(e164):
            refuse(PHONE_COUNTRY)

    async def admit(self, now: datetime, *, claimant: Optional[str] = None, target: Optional[str] = None) -> None:
        """Record one claim in the claimant's and the overall window (`claimant` given) and in
        the target's (`target`: an identifier key), or raise ClaimRefused and record nothing."""
        keys: List[str] = []
        limits: List[int] = []
        reasons: List[str] = []
        if target is not None:
            keys.append(f"{PREFIX}target:{target_digest(target)}")
            limits.append(PER_TARGET_PER_HOUR)
            reasons.append(TARGET_LIMIT)
        if claimant is not None:
            keys += [f"{PREFIX}claimant:{claimant}", f"{PREFIX}overall"]
            limits += [PER_CLAIMANT_PER_HOUR, self.codes_per_hour]
            reasons += [CLAIMANT_LIMIT, OVERALL_LIMIT]
        now_ms = int(now.replace(tzinfo=timezone.utc).timestamp() * 1000)  # naive UTC, as utcnow()
        full = await self._admit(keys=keys, args=[now_ms, int(WINDOW.total_seconds() * 1000),
                                                  secrets.token_hex(8), *limits])
        if full:
            refuse(reasons[int(full) - 1])

    async def close(self) -> None:
        await self.redis.close(close_connection_pool=True)


def refuse(reason: str) -> None:
    """The one log line of a refused claim: the reason, no address."""
    log.warning("identity claim refused: %s", reason)
    raise ClaimRefused(reason)
