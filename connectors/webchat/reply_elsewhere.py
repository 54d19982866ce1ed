"""An agent's web chat reply to a visitor who closed the page (WEBCHAT_REPLY_ELSEWHERE=true):
it is in the transcript anyway (their next visit shows it); it also goes by the customer's
other verified channel, the one they used last among those this server runs (WhatsApp,
Instagram, SMS, RCS), through that channel's own output: its window, opt-out and tags apply,
as for a reply an agent chose to send there from the console. No such channel: it waits."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from connectors.webchat.presence import Presence
from threadline.identity import directory

log = logging.getLogger(__name__)


def other_verified_route(session: Any, customer_id: str, channels: Iterable[str]) -> Optional[Tuple[str, str]]:
    """(channel, address) of the customer's most recently seen verified identity on one of
    `channels`, None if they have none."""
    wanted = set(channels) - {"webchat"}
    rows = [r for r in directory.identities_of(session, directory.canonical_customer(session, customer_id))
            if r.verified and r.channel in wanted]
    rows.sort(key=lambda r: (r.last_seen_at is not None, r.last_seen_at or datetime.min, r.id))
    return (rows[-1].channel, rows[-1].address) if rows else None


class ReplyElsewhere:
    def __init__(self, runtime: Any, channels: Callable[[], Dict[str, Any]]) -> None:
        self.runtime = runtime
        self.channels = channels  # name → the running input channel (the server's, on its loop)

    async def __call__(self, customer_id: str, text: str, kwargs: Dict[str, Any]) -> Optional[str]:
        """The channel the reply also went by, None when the visitor is here or has no other."""
        running = self.channels()
        try:
            customer_id = await self.runtime.resolver.canonical(customer_id)
            if await Presence(self.runtime.redis).anyone(customer_id):
                return None
            route = await self.runtime.resolver.db.run(lambda s: other_verified_route(s, customer_id, running))
        except (RedisError, SQLAlchemyError) as error:  # the reply is in the transcript already
            log.error("webchat: could not look for another channel of customer %s (%s): the agent's reply "
                      "waits in the transcript", customer_id, type(error).__name__)
            return None
        if route is None:
            log.info("webchat: visitor %s away, no other verified channel: the agent's reply waits in the "
                     "transcript", customer_id)
            return None
        channel, address = route
        await running[channel].output_channel(address).send_text_message(customer_id, text, **kwargs)
        log.info("webchat: visitor %s away: the agent's reply also went by %s", customer_id, channel)
        return channel
