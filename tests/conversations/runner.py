"""Plays the corpus through the assistant as `make run` runs it, as customers would.

The stack is tests/support/assistant_stack.py (the Rasa server with credentials.yml,
endpoints.yml and the trained model, the inbox worker, the action server, the CRM timeline
worker, a private Redis and a SQLite CRM); the sandbox provider, in the test's event loop,
plays Meta and Twilio. Each message is a signed webhook through the real connector; the turn
is over when the customer's tracker (Rasa's HTTP API) has logged it and the bot is listening
again, or paused for a person. What the customer saw is what the provider received for their
addresses in that time.

Each conversation is a new customer: a phone number of its own (its WhatsApp and SMS
addresses, which the product joins into one customer) and an Instagram id that is linked to
that customer first, as a confirmed claim would link it.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import redis.asyncio as aioredis

from tests.conversations.checks import BotMessage, Finding, ObservedTurn, check_conversation
from tests.conversations.corpus import Conversation
from threadline.conversation.event_log import CustomerEventLog
from threadline.crm import Database
from threadline.identity.services import IdentityServices

TURN_TIMEOUT_S = 90.0
POLL_S = 0.05
TRACKER_POLL_S = 0.5  # only while a saved turn looks unfinished
NAMES = {"en": "Sam Carter", "pt": "Bia Moreira"}


def addresses_of(index: int) -> Dict[str, str]:
    """Addresses no other test writes from: a Brazilian mobile number and an Instagram id."""
    phone = f"5511977{index:06d}"
    return {"whatsapp": phone, "sms": f"+{phone}", "instagram": f"17841477{index:09d}"}


@dataclass
class ConversationResult:
    conversation: Conversation
    observed: List[ObservedTurn]
    findings: List[Finding]
    seconds: float

    @property
    def broken(self) -> bool:
        return bool(self.findings)

    @property
    def bot_messages(self) -> int:
        return sum(len(turn.messages) for turn in self.observed)

    def as_dict(self) -> Dict[str, Any]:
        c = self.conversation
        return {
            "name": c.name, "file": c.source, "language": c.language, "about": c.about,
            "channels": list(c.channels), "broken": self.broken, "seconds": round(self.seconds, 2),
            "turns": [{"say": o.turn.text, "channel": o.turn.channel, "intent": o.intent,
                       "bot": [m.visible() for m in o.messages], "responses": o.responses,
                       "handed_off": o.handed_off} for o in self.observed],
            "findings": [f.as_dict() for f in self.findings],
        }

    def report(self) -> str:
        """The failures, each with the customer's message and the bot's text."""
        lines = [f"{self.conversation.source} {self.conversation.name}:"]
        for finding in self.findings:
            said = self.observed[finding.turn - 1].turn
            lines.append(f"  turn {finding.turn} [{said.channel}] customer: {said.text!r}")
            lines.append(f"    {finding.check}: {finding.detail}")
            lines.append(f"    bot: {finding.bot_text!r}")
        return "\n".join(lines)


class CorpusRunner:
    """Runs conversations against `stack` (bench.rasa_stack.RasaStack) with `provider`, the
    sandbox served in this event loop."""

    def __init__(self, stack: Any, provider: Any) -> None:
        self.stack = stack
        self.provider = provider
        self.identities = IdentityServices(Database(stack.env["CRM_DATABASE_URL"]), stack.env["REDIS_URL"])
        self.session = aiohttp.ClientSession()
        self.redis = aioredis.Redis.from_url(stack.env["REDIS_URL"])
        # The turn index the project keeps (provider message id -> turn): a cheap "is this
        # message's turn saved yet?", instead of asking the Rasa server for the tracker, which
        # would take CPU from the bot turns being measured.
        self.log = CustomerEventLog(self.redis)

    async def close(self) -> None:
        await self.session.close()
        await self.redis.close()
        await self.identities.close()

    async def run(self, conversation: Conversation, index: int) -> ConversationResult:
        started = time.monotonic()
        addresses = addresses_of(index)
        if "instagram" in conversation.channels and len(conversation.channels) > 1:
            await self._link_instagram(addresses)
        observed: List[ObservedTurn] = []
        paused = False
        for turn in conversation.turns:
            seen = await self._say(turn, addresses, NAMES[conversation.language], paused)
            observed.append(seen)
            paused = paused or seen.handed_off
            if not seen.finished:
                break  # the stack is stuck on this customer: the next turns would only wait
        return ConversationResult(conversation, observed, check_conversation(observed, conversation.language),
                                  time.monotonic() - started)

    async def _link_instagram(self, addresses: Dict[str, str]) -> None:
        customer = await self.identities.resolver.resolve("whatsapp", addresses["whatsapp"])
        await self.identities.link()(customer, "instagram", addresses["instagram"],
                                     actor="conversation-corpus", reason="the customer confirmed a code")

    def _outbox(self, addresses: Dict[str, str]) -> Dict[str, int]:
        return {channel: len(self.provider.conversations[(channel, address)]) for channel, address in addresses.items()}

    def _received_since(self, addresses: Dict[str, str], before: Dict[str, int]) -> List[BotMessage]:
        messages = []
        for channel, address in addresses.items():
            for entry in self.provider.conversations[(channel, address)][before[channel]:]:
                if entry.get("direction") == "out":
                    messages.append((entry["at"], BotMessage(channel, entry.get("text") or "",
                                                             tuple(entry.get("buttons") or ()))))
        return [message for _, message in sorted(messages, key=lambda item: item[0])]

    async def _say(self, turn, addresses: Dict[str, str], name: str, paused_before: bool) -> ObservedTurn:
        address = addresses[turn.channel]
        before = self._outbox(addresses)
        url, delivery, message_id = self.provider.build_inbound(turn.channel, address, {"text": turn.text, "name": name})
        status = await self.provider.post_webhook(url, delivery)
        if status != 200:
            raise AssertionError(f"the {turn.channel} webhook answered {status}")
        customer = await self.identities.resolver.resolve(turn.channel, address)
        observed = ObservedTurn(turn=turn, paused_before=paused_before)
        tracker, events = await self._turn_events(customer, message_id)
        if tracker is not None:
            self._read_turn(observed, tracker, events)
        else:
            observed.actions = [e.get("name") or e.get("event") or "" for e in events]
        observed.messages = self._received_since(addresses, before)
        return observed

    async def _tracker(self, customer: str) -> Dict[str, Any]:
        url = f"{self.stack.base}/conversations/{customer}/tracker?token={self.stack.token}"
        async with self.session.get(url) as response:
            response.raise_for_status()
            return await response.json()

    async def _turn_events(self, customer: str, message_id: str) -> Tuple[Optional[dict], List[dict]]:
        """The tracker once this message's turn is saved (Rasa saves a turn's events together, the
        customer's message first), and the turn's events; (None, the last events seen) if it
        never is, or the bot is neither listening again nor paused for a person."""
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline and not await self.log.has_turn(customer, message_id):
            await asyncio.sleep(POLL_S)
        while True:
            tracker = await self._tracker(customer)
            events = tracker.get("events") or []
            start = next((i for i, e in enumerate(events) if e.get("event") == "user"
                          and e.get("message_id") == message_id), None)
            turn = events[start:] if start is not None else events[-5:]
            listening = any(e.get("event") == "action" and e.get("name") == "action_listen" for e in turn[1:])
            if start is not None and (listening or tracker.get("paused")):
                return tracker, turn
            if time.monotonic() > deadline:
                return None, turn
            await asyncio.sleep(TRACKER_POLL_S)

    @staticmethod
    def _read_turn(observed: ObservedTurn, tracker: Dict[str, Any], events: List[dict]) -> None:
        observed.finished = True
        observed.intent = ((events[0].get("parse_data") or {}).get("intent") or {}).get("name")
        for event in events[1:]:
            kind = event.get("event")
            if kind == "bot":
                observed.responses.append((event.get("metadata") or {}).get("utter_action") or "")
            elif kind == "action":
                observed.actions.append(event.get("name") or "")
            elif kind == "slot" and event.get("name") == "requested_slot":
                observed.requested_slots.append(event.get("value"))
            elif kind == "pause":
                observed.handed_off = True
        observed.slots = dict(tracker.get("slots") or {})


async def run_corpus(stack: Any, conversations: List[Tuple[int, Conversation]],
                     concurrency: int = 4) -> Dict[str, ConversationResult]:
    """`conversations` (each with its index, which picks its addresses), `concurrency` customers
    writing at once: each one's turns stay in order, and the bot turns of different customers
    overlap as they do in production."""
    from tests.conversations.checks import language_of
    from tests.support.sandbox import serve_sandbox

    language_of("load the detector's models before customers start writing")
    results: Dict[str, ConversationResult] = {}
    gate = asyncio.Semaphore(concurrency)
    async with serve_sandbox(stack.env, stack.sandbox_port) as provider:
        runner = CorpusRunner(stack, provider)
        try:
            async def one(index: int, conversation: Conversation) -> None:
                async with gate:
                    results[conversation.name] = await runner.run(conversation, index)
            await asyncio.gather(*(one(index, conversation) for index, conversation in conversations))
        finally:
            await runner.close()
    return results
