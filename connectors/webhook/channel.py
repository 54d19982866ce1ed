"""`WebhookInput`: the Rasa input channel every provider connector builds on.

Request path, in the Rasa server (milliseconds, whatever the bot is doing):
size check → signature on the raw bytes → parse every event → inbox (dedupe + lane) → ack.
Consumer path (`consume`), in the inbox worker process (threadline/inbox_worker.py, what
`make run` runs): inbox lane → identity → record or `UserMessage(sender_id=customer id)` →
Rasa → reply through this channel's output. The Rasa server never runs a channel's turns.

A connector subclass provides `verify`, `parse`, `output_channel`, and optionally
`admit`, `handshake`, `acknowledgement` and `text_for_bot`.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any, Awaitable, Callable, List, Optional

from redis.exceptions import RedisError
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import (AckPolicy, Inbox, InboxConsumer, NotReplicated, lease_ms_from_env,
                                      max_attempts_from_env, note_customer)
from connectors.webhook import runtime as channel_runtime
from connectors.webhook.runtime import ChannelRuntime, CustomerNotingResolver, ResolverFactory, default_consumer_name
from connectors.webhook.typed_text import typed_text_for_nlu
from threadline.conversation.lock_store import CustomerLockStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # real deliveries are a few KB; Meta batches stay far below this

# What Rasa sees for input that has no words of its own (domain.yml intents).
MEDIA_INTENT = "/share_media"
UNSUPPORTED_INTENT = "/unsupported_message"
WELCOME_INTENT = "/greet"


class Rejected(Exception):
    """A request we refuse: `status` is 4xx (503 while starting), `reason` goes to the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WebhookInput(InputChannel):
    # Seconds a provider event id is remembered; at least the provider's retry window.
    dedupe_ttl_s: int = 7 * 24 * 3600

    def __init__(self, *, sandbox: bool, resolver_factory: Optional[ResolverFactory] = None,
                 redis_url: Optional[str] = None, consumer_name: Optional[str] = None,
                 disabled: bool = False) -> None:
        self.sandbox = sandbox
        # Switched off (no variables, and no sandbox allowed): refuses webhooks, consumes nothing.
        self.disabled = disabled
        self.resolver_factory = resolver_factory
        self.redis_url = redis_url
        self.consumer_name = consumer_name or default_consumer_name()
        self.runtime: Optional[ChannelRuntime] = None
        self.inbox: Optional[Inbox] = None  # set by `start`, after the server began listening
        self.consumer: Optional[InboxConsumer] = None
        self._consumer_task: Optional[asyncio.Task] = None

    # --- provider-specific parts -------------------------------------------------------
    def verify(self, request: Request) -> None:
        """Raise `Rejected(401|403, ...)` unless the request is signed by the provider."""
        raise NotImplementedError

    def parse(self, request: Request) -> List[InboundEvent]:
        """Every event of the delivery; raise `Rejected(400|415, ...)` for malformed ones."""
        raise NotImplementedError

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> OutputChannel:
        """An output channel using `runtime` (default: the server loop's resources)."""
        raise NotImplementedError

    async def admit(self, request: Request) -> List[InboundEvent]:
        """`verify`, then `parse`. A connector whose checks need I/O (a replay cache) or whose
        parsing is too heavy for the server's loop overrides this to await them."""
        self.verify(request)
        return self.parse(request)

    def handshake(self, request: Request) -> HTTPResponse:
        return response.text("", status=405)

    def acknowledgement(self) -> HTTPResponse:
        return response.text("EVENT_RECEIVED")

    async def text_for_bot(self, event: InboundEvent, runtime: ChannelRuntime, customer_id: str) -> Optional[str]:
        """What Rasa gets as the user's text; None = record only, don't answer. Only a payload
        of the customer's current offer may be an "/intent"; all else is read as typed text."""
        if event.kind == kinds.UNSUPPORTED:
            return UNSUPPORTED_INTENT
        offer = await runtime.records.current_offer(customer_id)
        typed = event.text
        if event.payload:
            if offer and offer.offers_payload(event.payload):
                return event.payload
            log.warning("%s: payload from customer %s is not in their current offer: read as typed text",
                        self.name(), customer_id)
            typed = event.text or event.payload
        if typed and typed.strip():
            chosen = offer.chosen(event.channel, typed) if offer else None
            return chosen or typed_text_for_nlu(typed) or MEDIA_INTENT
        if event.message_type == "request_welcome":
            return WELCOME_INTENT
        return MEDIA_INTENT

    # --- Rasa plumbing -----------------------------------------------------------------
    def get_output_channel(self) -> Optional[OutputChannel]:
        """Used by Rasa's HTTP API (`output_channel=<name>`): the address is looked up."""
        return self.output_channel(None) if self.runtime else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint(f"threadline_{self.name()}")

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            # 503 until `start` has run: Sanic serves requests while listeners still run.
            state = self.state()
            return response.json({"status": state, "sandbox": self.sandbox}, status=200 if state == "ok" else 503)

        @bp.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            return self.handshake(request)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self.receive(request)

        @bp.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            await self.start(on_new_message, lambda: _agent_ready(app))

        @bp.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.stop()

        return bp

    def state(self) -> str:
        """"ok" once webhooks are accepted (the inbox is open), else "starting" (or "disabled")."""
        if self.disabled:
            return "disabled"
        return "ok" if self.inbox is not None else "starting"

    def enabled(self) -> bool:
        """False for a channel that is switched off by its settings (it neither accepts nor consumes)."""
        return not self.disabled

    async def start(self, on_new_message: OnNewMessage, is_ready: Callable[[], bool]) -> None:
        """The edge, on the Rasa server's loop: open the inbox. Turns run in the inbox worker
        (`consume`), so the arguments Rasa's listener passes are not used here."""
        if self.disabled:
            return
        channel_runtime.warn_if_worker_mode_set()
        factory = self.resolver_factory or channel_runtime.default_resolver_factory
        # This loop's resources serve the webhook and Rasa's HTTP API (agent messages).
        self.runtime = ChannelRuntime.open(factory, self.redis_url)
        self.inbox = Inbox(self.runtime.redis, self.name(), self.dedupe_ttl_s, AckPolicy.from_env())
        await self._warn_if_short_of_replicas()
        # The model is loaded by now: move its millions of long-lived objects out of the
        # garbage collector's reach, or each full collection pauses every webhook for
        # hundreds of milliseconds.
        gc.freeze()
        log.info("%s channel started (inbox only: an inbox worker answers%s)", self.name(),
                 ", sandbox" if self.sandbox else "")

    async def _warn_if_short_of_replicas(self) -> None:
        """Said at start: with fewer replicas than THREADLINE_ACK_REPLICAS every webhook is a 503."""
        wanted = self.inbox.ack.replicas
        if not wanted:
            return
        try:
            connected = await self.inbox.replicas_connected()
        except RedisError as error:
            log.warning("%s channel: could not count the Redis replicas (%s)", self.name(), type(error).__name__)
            return
        if connected < wanted:
            log.warning("%s channel: THREADLINE_ACK_REPLICAS=%d but the Redis primary has %d replicas connected: "
                        "webhooks are answered 503 until enough replicas are back", self.name(), wanted, connected)

    async def consume(self, on_new_message: OnNewMessage, is_ready: Callable[[], bool]) -> None:
        """Run this channel's inbox consumer on the running loop (the inbox worker's) until
        `stop_consuming`, with resources of its own opened on that loop."""
        factory = self.resolver_factory or channel_runtime.default_resolver_factory
        consumer_runtime = ChannelRuntime.open(factory, self.redis_url)
        # A dead letter names the customer the failed turn had resolved.
        consumer_runtime.resolver = CustomerNotingResolver(consumer_runtime.resolver, note_customer)

        async def handle(event: InboundEvent) -> None:
            await self.handle_event(event, on_new_message, consumer_runtime)

        self.consumer = InboxConsumer(consumer_runtime.redis, self.name(), self.consumer_name, handle,
                                      is_ready=is_ready, lease_ms=lease_ms_from_env(),
                                      max_attempts=max_attempts_from_env())
        self._consumer_task = asyncio.current_task()
        log.info("%s inbox: consuming as %s", self.name(), self.consumer_name)
        try:
            await self.consumer.run()
        finally:
            await consumer_runtime.close()

    async def stop_consuming(self) -> None:
        """On the consumer's loop: let running turns finish, then end the consumer."""
        if self.consumer:
            await self.consumer.stop()
        if self._consumer_task:
            self._consumer_task.cancel()
            await asyncio.gather(self._consumer_task, return_exceptions=True)

    async def stop(self) -> None:
        if self.runtime:
            await self.runtime.close()

    async def receive(self, request: Request) -> HTTPResponse:
        size = len(request.body or b"")
        try:
            if self.disabled:
                raise Rejected(404, "channel disabled")
            if size > MAX_BODY_BYTES:
                raise Rejected(413, "body too large")
            events = await self.admit(request)
            if self.inbox is None:
                # The server listens before the channel's start-up listener has run.
                raise Rejected(503, "channel starting")
        except Rejected as rejected:
            log.warning("%s webhook rejected with %d: %s (%d bytes from %s)", self.name(),
                        rejected.status, rejected.reason, size, request.remote_addr or request.ip)
            return response.text(rejected.reason, status=rejected.status)
        try:
            new = await self.inbox.accept(events)
        except RedisError as error:
            # Not stored: a 503 makes the provider deliver it again later.
            log.error("%s webhook: inbox unavailable (%s); asked the provider to retry", self.name(), error)
            return response.text("inbox unavailable", status=503)
        except NotReplicated as short:
            # Stored on the primary only: a failover could lose it after a 200. The retry is
            # deduplicated, so it is neither stored nor answered twice.
            log.warning("%s webhook: %d of %d replicas held the %d events within %d ms; asked the provider "
                        "to retry", self.name(), short.held, short.wanted, len(events), self.inbox.ack.timeout_ms)
            return response.text("not yet replicated", status=503)
        log.info("%s webhook: %d events, %d new", self.name(), len(events), new)
        return self.acknowledgement()

    async def handle_event(self, event: InboundEvent, on_new_message: OnNewMessage,
                           runtime: ChannelRuntime) -> None:
        """One inbox entry: at most one bot turn, whatever was replayed (docs/channels.md)."""
        records = runtime.records
        if event.kind == kinds.STATUS:
            await records.delivery_status(event)
            return
        customer_id = await runtime.resolver.resolve(
            event.channel, event.address, profile_name=event.profile_name,
            attributes=event.attributes or None,
        )
        if event.kind in kinds.RECORDED_ONLY:
            await records.activity(customer_id, event)
            return
        if await already_a_turn(runtime, customer_id, event.provider_message_id):
            log.info("%s: event %s of customer %s is already a turn in their log (a replay): "
                     "acknowledged, not run again", self.name(), event.event_id, customer_id)
            return
        await records.inbound_seen(event.channel, event.address, event.timestamp)
        output = self.output_channel(event.address, runtime).for_turn(inbound_key(event))
        # The window is open again: what waited for it goes out first, in order.
        await send_held_under_lock(output, customer_id, self.redis_url)
        text = await self.text_for_bot(event, runtime, customer_id)
        if text is None:
            await records.activity(customer_id, event)
            return
        await output.mark_read(event.address, event.provider_message_id)
        await on_new_message(UserMessage(
            text=text,
            output_channel=output,
            sender_id=customer_id,
            input_channel=self.name(),
            message_id=event.provider_message_id,
            metadata={**event.metadata(), "customer_id": customer_id},
        ))


def inbound_key(event: InboundEvent) -> str:
    """What the send records of the turn answering `event` are keyed by."""
    return f"{event.channel}:{event.event_id}"


async def already_a_turn(runtime: ChannelRuntime, customer_id: str, message_id: Optional[str]) -> bool:
    """Whether the customer's conversation log holds the turn of inbound `message_id` (the turn
    records it as Rasa's `UserUttered.message_id`)."""
    return bool(message_id) and await runtime.conversation_log.has_turn(customer_id, message_id)


async def send_held_under_lock(output: Any, customer_id: str, redis_url: Optional[str]) -> None:
    """Send the customer's held messages holding their conversation lock (the one Rasa's turns
    take), so two workers never send them both; a lock only when something is held."""
    if not await output.has_held():
        return
    locks = CustomerLockStore(url=redis_url or channel_runtime.redis_url())
    try:
        async with locks.lock(customer_id):
            await output.send_held(customer_id)
    finally:
        await locks.close()


def _agent_ready(app: Any) -> bool:
    # Rasa's agent.handle_message silently drops messages while no model is loaded: wait.
    agent = getattr(app.ctx, "agent", None)
    return agent is not None and agent.is_ready()
