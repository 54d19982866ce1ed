"""Provider API calls with retries: backoff on rate limits, 5xx and network errors."""
from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Optional

import aiohttp

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """The provider refused the message for good (or kept failing past the retry budget)."""

    def __init__(self, status: int, code: Any, detail: str, response: Optional[dict] = None) -> None:
        super().__init__(f"HTTP {status}, provider code {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.response = response or {}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # Provider error codes that mean "slow down" even when the HTTP status is 4xx.
    rate_limit_codes: FrozenSet[Any] = frozenset()

    def delay(self, attempt: int, retry_after: Optional[str]) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay_s)
        backoff = self.base_delay_s * (2 ** (attempt - 1))
        return min(backoff, self.max_delay_s) * random.uniform(0.8, 1.2)


class ProviderClient:
    """POSTs to one provider API; returns its JSON, raises `SendFailed` when it gives up."""

    def __init__(
        self,
        session_factory: Callable[[], aiohttp.ClientSession],
        policy: RetryPolicy,
        error_code: Callable[[dict], Any],
        headers: Optional[Dict[str, str]] = None,
        auth: Optional[aiohttp.BasicAuth] = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.session_factory = session_factory
        self.policy = policy
        self.error_code = error_code
        self.headers = headers or {}
        self.auth = auth
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post(self, url: str, *, json_body: Optional[dict] = None,
                   form: Optional[Dict[str, str]] = None, headers: Optional[Dict[str, str]] = None) -> dict:
        return await self.request("POST", url, json_body=json_body, form=form, headers=headers)

    async def request(self, method: str, url: str, *, json_body: Optional[dict] = None,
                      form: Optional[Dict[str, str]] = None, headers: Optional[Dict[str, str]] = None) -> dict:
        """`method` to `url` with retries; `headers` are added to the client's own (e.g. a
        bearer token that changes)."""
        last: Optional[SendFailed] = None
        for attempt in range(1, self.policy.attempts + 1):
            retry_after = None
            try:
                async with self.session_factory().request(
                    method, url, json=json_body, data=form, headers={**self.headers, **(headers or {})},
                    auth=self.auth, timeout=self.timeout,
                ) as response:
                    body = await _json(response)
                    if response.status < 300:
                        return body
                    code = self.error_code(body)
                    last = SendFailed(response.status, code, _detail(body), body)
                    retry_after = response.headers.get("Retry-After")
                    retryable = (response.status == 429 or response.status >= 500
                                 or code in self.policy.rate_limit_codes)
                    if not retryable:
                        raise last
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                last = SendFailed(0, None, type(error).__name__)
            if attempt < self.policy.attempts:
                delay = self.policy.delay(attempt, retry_after)
                log.warning("send to %s failed (%s); retry %d in %.1f s", _host(url), last, attempt, delay)
                await asyncio.sleep(delay)
        assert last is not None
        raise last


async def _json(response: aiohttp.ClientResponse) -> dict:
    raw = await response.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw[:200].decode("utf-8", "replace")}
    return parsed if isinstance(parsed, dict) else {"raw": parsed}


def _detail(body: dict) -> str:
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return str(error.get("message") or error.get("raw") or "")[:200]


def _host(url: str) -> str:
    return url.split("/")[2] if "//" in url else url
