"""`ImportRasaTrackers`: copy trackers written by Rasa's `RedisTrackerStore` into ours.

Rasa stores one JSON blob per conversation at `<key_prefix>:tracker:<sender_id>` (or
`tracker:<sender_id>` without a prefix), holding `{"name": ..., "events": [...]}` with every
session. Each blob becomes that customer's history here, session index included. The source
is only read, never changed. Customers that already have history here are skipped unless
`overwrite` is set, so running the import twice duplicates nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import redis.asyncio as aioredis
from rasa.core.tracker_store import DEFAULT_REDIS_TRACKER_STORE_KEY_PREFIX
from rasa.shared.core.events import Event

from threadline.conversation.redis_connection import client_for, validate_url
from threadline.conversation.tracker_store import CustomerTrackerStore


def rasa_key_prefix(key_prefix: Optional[str]) -> str:
    """The prefix Rasa's RedisTrackerStore uses for a configured `key_prefix`."""
    if key_prefix and key_prefix.isalnum():
        return f"{key_prefix}:{DEFAULT_REDIS_TRACKER_STORE_KEY_PREFIX}"
    if key_prefix:
        raise ValueError(
            f"Rasa ignores non-alphanumeric key prefixes like {key_prefix!r}; pass it without one"
        )
    return DEFAULT_REDIS_TRACKER_STORE_KEY_PREFIX


@dataclass
class ImportReport:
    imported: Dict[str, int] = field(default_factory=dict)
    skipped_existing: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "imported": self.imported,
            "imported_events": sum(self.imported.values()),
            "skipped_existing": self.skipped_existing,
            "failed": self.failed,
        }


@dataclass
class ImportRasaTrackers:
    store: CustomerTrackerStore
    source_url: str
    key_prefix: Optional[str] = None
    overwrite: bool = False

    async def run(self) -> ImportReport:
        prefix = rasa_key_prefix(self.key_prefix)
        source = client_for(validate_url(self.source_url, "import source"))
        report = ImportReport()
        try:
            async for key in source.scan_iter(match=f"{prefix}*", count=500):
                sender_id = key.decode()[len(prefix):]
                await self._import_one(source, key, sender_id, report)
        finally:
            await source.close(close_connection_pool=True)
        return report

    async def _import_one(
        self, source: aioredis.Redis, key: bytes, sender_id: str, report: ImportReport,
    ) -> None:
        if not self.overwrite and await self.store.exists(sender_id):
            report.skipped_existing.append(sender_id)
            return
        try:
            events = json.loads(await source.get(key))["events"]
            unreadable = [i for i, event in enumerate(events) if Event.from_parameters(event) is None]
            if unreadable:  # refuse blobs Rasa itself could not load
                raise ValueError(f"events at positions {unreadable[:5]} are not Rasa events")
        except Exception as error:  # one bad blob must not stop the others
            report.failed[sender_id] = f"{type(error).__name__}: {error}"
            return
        await self.store.rewrite_history(sender_id, events)
        report.imported[sender_id] = len(events)
