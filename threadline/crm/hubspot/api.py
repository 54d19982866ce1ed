"""HubSpot CRM v3 REST calls over aiohttp, with retries.

Retried: 429 (rate limit; `Retry-After` honoured when sent), 5xx, connection errors and
timeouts, with exponential back-off; after the last attempt `CrmUnavailable` is raised, so
the timeline consumer keeps the work pending. Other 4xx are the caller's mistake (bad token,
missing property) and raise `HubSpotRejected` at once.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import aiohttp

from threadline.crm.interface import CrmUnavailable

DEFAULT_API_URL = "https://api.hubapi.com"


class HubSpotRejected(Exception):
    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(f"HubSpot refused the request ({status} {category}): {message}")
        self.status, self.category = status, category


class HubSpotApi:
    def __init__(self, token: str, base_url: str = DEFAULT_API_URL, *, attempts: int = 4,
                 backoff_s: float = 0.5, timeout_s: float = 10.0) -> None:
        if not token:
            raise ValueError("HUBSPOT_TOKEN is empty: create a private app token in HubSpot")
        self.base_url = base_url.rstrip("/")
        self.attempts, self.backoff_s = attempts, backoff_s
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def call(self, method: str, path: str, body: Optional[dict] = None) -> Dict[str, Any]:
        last = "no attempt made"
        for attempt in range(self.attempts):
            delay = self.backoff_s * 2 ** attempt
            try:
                async with self._client().request(method, self.base_url + path, json=body) as response:
                    if response.status < 300:
                        return await response.json() if response.status != 204 else {}
                    payload = await response.json(content_type=None)
                    if response.status != 429 and response.status < 500:
                        raise HubSpotRejected(response.status, payload.get("category", ""),
                                              payload.get("message", ""))
                    last = f"{response.status} {payload.get('category') or payload.get('errorType', '')}"
                    delay = float(response.headers.get("Retry-After", delay))
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                last = error.__class__.__name__
            if attempt < self.attempts - 1:
                await asyncio.sleep(delay)
        raise CrmUnavailable(f"HubSpot {method} {path}: {last}")

    async def search(self, object_type: str, filters: List[dict], properties: List[str],
                     limit: int = 100) -> List[Dict[str, Any]]:
        body = {"filterGroups": [{"filters": filters}], "properties": properties, "limit": limit}
        reply = await self.call("POST", f"/crm/v3/objects/{object_type}/search", body)
        return reply.get("results", [])

    async def create(self, object_type: str, properties: Dict[str, Any],
                     associate_to: Optional[str] = None, association_type: Optional[int] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"properties": properties}
        if associate_to:
            body["associations"] = [{"to": {"id": associate_to}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association_type}]}]
        return await self.call("POST", f"/crm/v3/objects/{object_type}", body)

    async def update(self, object_type: str, object_id: str, properties: Dict[str, Any]) -> Dict[str, Any]:
        return await self.call("PATCH", f"/crm/v3/objects/{object_type}/{object_id}", {"properties": properties})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
