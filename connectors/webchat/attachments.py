"""Files a visitor sends from the widget: images (PNG, JPEG, WebP, GIF) and PDF.

The widget declares a type (the file's `Content-Type`); the server reads the first bytes and
accepts the file only when they are that type's signature (`kind_of`): a ZIP named `.png`, a
script named `.pdf`, are refused before anything is stored. Accepted files are kept in Redis
(`tl:webchat:file:<name>`, FILE_TTL_S) under a random 32-byte name: the URL is the only
capability, unguessable, and is what the transcript, the bot's metadata and the console carry.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from redis.asyncio import Redis

from connectors.webhook.channel import Rejected

PREFIX = "tl:webchat:file:"
FILE_TTL_S = 30 * 24 * 3600  # long enough for an agent to open it; the transcript keeps its name
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

# Declared type → the signature its first bytes must carry (offset, bytes), all of them.
SIGNATURES: Dict[str, Tuple[Tuple[int, bytes], ...]] = {
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/gif": ((0, b"GIF8"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
    "application/pdf": ((0, b"%PDF-"),),
}


@dataclass(frozen=True)
class StoredFile:
    name: str  # the random part of the URL
    content_type: str
    size: int


def kind_of(declared: str, data: bytes, max_bytes: int) -> str:
    """The accepted content type of `data`, declared as `declared`; Rejected otherwise (its
    reason a fixed phrase, safe to log and to show)."""
    content_type = declared.split(";", 1)[0].strip().lower()
    if content_type not in SIGNATURES:
        raise Rejected(415, "only PNG, JPEG, WebP, GIF images and PDF files are accepted")
    if not data:
        raise Rejected(400, "empty file")
    if len(data) > max_bytes:
        raise Rejected(413, "file too large")
    if not all(data[offset:offset + len(magic)] == magic for offset, magic in SIGNATURES[content_type]):
        raise Rejected(415, "file content is not of its declared type")
    return content_type


class AttachmentStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def put(self, content_type: str, data: bytes) -> StoredFile:
        name = secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(PREFIX + name, mapping={"type": content_type, "data": data})
            pipe.expire(PREFIX + name, FILE_TTL_S)
            await pipe.execute()
        return StoredFile(name=name, content_type=content_type, size=len(data))

    async def get(self, name: str) -> Optional[Tuple[str, bytes]]:
        if not name or len(name) > 64:
            return None
        found = await self.redis.hmget(PREFIX + name, "type", "data")
        if found[0] is None or found[1] is None:
            return None
        return found[0].decode(), found[1]
