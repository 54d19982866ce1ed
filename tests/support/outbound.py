"""What the connectors recorded about a message we sent, read through their own API."""
from __future__ import annotations

from typing import Optional

from redis.asyncio import Redis

from connectors.webhook.records import ChannelRecords


async def customer_of_our_message(redis_url: str, channel: str, provider_id: str) -> Optional[str]:
    """The customer a message we sent was for; None until the send record is written (just
    after the provider took the message, so it may trail what the provider shows by a moment)."""
    redis = Redis.from_url(redis_url)
    try:
        return (await ChannelRecords(redis).message(channel, provider_id)).get("customer_id")
    finally:
        await redis.close()
