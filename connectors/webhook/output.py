"""`WebhookOutput`: the Rasa output channel every provider connector builds on.

Rasa calls `send_*(customer id, ...)`. This class finds the address (the one the message
came from, or the resolver's reply address for the channel), checks whether we may send now
(windows, opt-out), splits long texts, renders buttons natively or as numbered options, sends
through `ProviderClient` (retries) and records the outcome. It never raises into Rasa: a
failed send is recorded, not retried by re-running the bot turn.

Exactly once: the output of a bot turn (`for_turn`, given the inbound event's key) numbers
its payloads in order; each payload the provider confirmed (or the message held instead)
gets a send record for (inbound event, position) before anything else happens, and every
send first looks for one, so a turn replayed after a crash skips what already went out.
Held messages sent later are numbered the same way under their held entry id. Messages sent
outside a turn (agents through Rasa's HTTP API, one-time codes) have no send records.

A sender that must know whether its message reached the customer (the follow-up worker, through
Rasa's HTTP API) puts `delivery_ref` in the bot event's metadata: when that message is held, the
provider refuses it, or a receipt later says it failed, the reason is recorded under that
reference (ChannelRecords.refused), and the sender reads it back (ChannelRecords.refusal).
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Callable, Dict, List, Optional

from rasa.core.channels.channel import OutputChannel

from connectors.webhook.language import message_language
from connectors.webhook.offers import Offer
from connectors.webhook.records import HELD_MARK, REF_FIELD, SendSlot, held_source, turn_source
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import SendFailed
from connectors.webhook.text import split_text
from threadline.conversation import failpoints
from threadline.i18n import N_, texts_for

log = logging.getLogger(__name__)

Payload = Dict[str, Any]
NextSlot = Callable[[], Optional[SendSlot]]


def typed_by_human(kwargs: Dict[str, Any]) -> bool:
    """Agent messages carry `"metadata": {"sent_by": "agent"}` on their bot event."""
    return kwargs.get("sent_by") == "agent"


def delivery_ref(kwargs: Dict[str, Any]) -> Optional[str]:
    """The sender's reference for this message (bot event metadata `delivery_ref`), if any."""
    ref = kwargs.get(REF_FIELD)
    return ref if isinstance(ref, str) and ref else None


def no_slot() -> Optional[SendSlot]:
    return None


def numbered(source: str) -> NextSlot:
    """Slots 0, 1, 2... of `source`, one per call."""
    positions = itertools.count()
    return lambda: SendSlot(source, next(positions))


class WebhookOutput(OutputChannel):
    # Under numbered options, in the language of the message they come with.
    numbered_hint = N_("Reply with the number of your choice.")

    def __init__(self, runtime: ChannelRuntime, address: Optional[str] = None) -> None:
        self.runtime = runtime
        self.records = runtime.records
        self.address = address
        self._turn_slot: NextSlot = no_slot
        self._turn_confirmed = False  # whether this turn's first payload went out in this process

    def for_turn(self, inbound_key: str) -> "WebhookOutput":
        """This output answers the inbound event `inbound_key`: its payloads get send records."""
        self._turn_slot = numbered(turn_source(inbound_key))
        return self

    # --- provider-specific parts -------------------------------------------------------
    def fits(self, text: str) -> bool:
        raise NotImplementedError

    def text_payload(self, address: str, text: str, kwargs: Dict[str, Any]) -> Payload:
        raise NotImplementedError

    def buttons_payload(self, address: str, text: str, buttons: List[Dict[str, Any]],
                        kwargs: Dict[str, Any]) -> Optional[Payload]:
        """A native rendering, or None to fall back to numbered options."""
        return None

    def image_payload(self, address: str, url: str, kwargs: Dict[str, Any]) -> Optional[Payload]:
        return None

    def custom_payload(self, address: str, custom: Dict[str, Any]) -> Optional[Payload]:
        return None

    async def deliver(self, payload: Payload) -> tuple[str, Dict[str, Any]]:
        """Send one payload; returns (provider message id, details to record)."""
        raise NotImplementedError

    async def hold_reason(self, address: str, kwargs: Dict[str, Any]) -> Optional[str]:
        """Why this message may not be sent now (closed window, opt-out), or None."""
        return None

    async def on_held(self, customer_id: str, address: str, reason: str) -> None:
        """Hook after a message was held (e.g. send an approved template)."""

    async def on_failed(self, customer_id: str, address: str, error: SendFailed) -> None:
        """Hook after a permanent failure (e.g. record an opt-out)."""

    def held_by_provider(self, error: SendFailed) -> Optional[str]:
        """The hold reason when the provider refused a message only for now (its clock says
        the window is closed), or None: such a message is held with its content, not failed."""
        return None

    def send_later(self, reason: str) -> bool:
        """Whether a message held for `reason` goes out by itself when the customer writes
        again (a closed window reopens); otherwise only an agent can act on it."""
        return False

    def opens_window(self, message: Dict[str, Any]) -> bool:
        """Whether `message` may go out while the window is closed (held for a `send_later`
        reason), because the provider allows exactly that kind of message then."""
        return False

    async def mark_read(self, address: str, provider_message_id: Optional[str]) -> None:
        """Show the customer their message was read (the bot is answering it), if the provider can."""

    # --- Rasa's API ---------------------------------------------------------------------
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, {"text": text}, kwargs)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self._send(recipient_id, {"text": text, "buttons": buttons}, kwargs)

    async def send_quick_replies(self, recipient_id: str, text: str,
                                 quick_replies: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, {"image": image}, kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        await self._send(recipient_id, {"custom": json_message}, kwargs)

    async def send_held(self, customer_id: str) -> int:
        """Send, oldest first, what was held for this address until the customer wrote again;
        each one is marked sent once it went out. Returns how many went out. The caller holds
        the customer's lock; the send records (per held entry) make a repeat send nothing."""
        address = self.address
        count = 0
        for held in await self.records.held_messages(self.name(), address) if address else []:
            kwargs = held["message"].get("kwargs") or {}
            if await self.hold_reason(address, kwargs):
                break  # still closed (e.g. an old message replayed): keep them, in order
            provider_ids = await self._send_now(customer_id, address, held["message"], kwargs,
                                                numbered(held_source(held["entry_id"])))
            await self.records.held_sent(self.name(), address, held, provider_ids)
            count += 1
        if count:
            log.info("%s: sent %d held messages to customer %s", self.name(), count, customer_id)
        return count

    async def has_held(self) -> bool:
        """Whether messages wait for this address until the customer writes again."""
        return bool(self.address) and bool(await self.records.held_messages(self.name(), self.address))

    async def send_text_now(self, recipient_id: str, text: str) -> bool:
        """Send a text outside a bot turn (a one-time code) to `self.address`; False when it may
        not be sent now or the provider refused it. Unlike Rasa's path, a held message is not
        recorded for agents: its text may be a secret."""
        if not self.address or await self.hold_reason(self.address, {}):
            return False
        for part in split_text(text, self.fits):
            if await self._deliver(recipient_id, self.address, self.text_payload(self.address, part, {})) is None:
                return False
        return True

    # --- shared steps -------------------------------------------------------------------
    async def _send(self, customer_id: str, message: Dict[str, Any], kwargs: Dict[str, Any]) -> List[str]:
        """One message of Rasa's (`text`, `text`+`buttons`, `image` or `custom`), now or held."""
        ref = delivery_ref(kwargs)
        address = await self._reply_address(customer_id, ref)
        if address is None:
            return []
        # What a held message keeps: its content, who wrote it (agents' windows differ) and its
        # language (the words a connector adds to it).
        kept = {"sent_by": kwargs["sent_by"]} if "sent_by" in kwargs else {}
        language = message_language(kwargs)
        if language:
            kept["language"] = language
        queued = {**message, **({"kwargs": kept} if kept else {})}
        reason = await self.hold_reason(address, kwargs)
        if reason and self.send_later(reason) and self.opens_window(message):
            reason = None  # e.g. an approved WhatsApp template: the one thing a closed window lets through
        if reason:
            slot = self._turn_slot()
            if slot is None or not await self._already_done(customer_id, slot):
                await self._hold(customer_id, address, reason, queued, slot, ref)
            return []
        return await self._send_now(customer_id, address, queued, kwargs, self._turn_slot, ref)

    async def _send_now(self, customer_id: str, address: str, message: Dict[str, Any],
                        kwargs: Dict[str, Any], next_slot: NextSlot = no_slot, ref: Optional[str] = None) -> List[str]:
        """Render and deliver, each payload in the next slot; returns the provider ids of what
        went out. A payload the provider holds back ends the message (the rest would be too)."""
        text = message.get("text", "")
        if "custom" in message:
            payload = self.custom_payload(address, message["custom"])
            if payload is None:
                log.warning("%s: custom payload not supported here; not sent", self.name())
                return []
            payloads = [payload]
        elif "image" in message:
            payloads = [self.image_payload(address, message["image"], kwargs)
                        or self.text_payload(address, message["image"], kwargs)]
        elif message.get("buttons"):
            payloads = await self._buttons(customer_id, address, text, message["buttons"], kwargs)
        else:
            payloads = [self.text_payload(address, part, kwargs) for part in split_text(text, self.fits)]
        sent: List[str] = []
        for payload in payloads:
            outcome = await self._deliver(customer_id, address, payload, next_slot(), message, ref)
            if outcome == HELD_MARK:
                break
            if outcome:
                sent.append(outcome)
        return sent

    async def _buttons(self, customer_id: str, address: str, text: str, buttons: List[Dict[str, Any]],
                       kwargs: Dict[str, Any]) -> List[Payload]:
        native = self.buttons_payload(address, text, buttons, kwargs)
        # Recorded before sending (a fast tap may come back first): only the current
        # offer's payloads are accepted from the customer (connectors/webhook/offers.py).
        await self.records.offer(customer_id, Offer.of_buttons(self.name(), buttons, numbered=native is None))
        if native is not None:
            return [native]
        lines = [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
        hint = texts_for(message_language(kwargs)).gettext(self.numbered_hint)
        numbered_text = "\n".join([text, "", *lines, "", hint])
        return [self.text_payload(address, part, kwargs) for part in split_text(numbered_text, self.fits)]

    async def _reply_address(self, customer_id: str, ref: Optional[str] = None) -> Optional[str]:
        address = self.address or await self.runtime.resolver.reply_address(customer_id, self.name())
        if not address:
            log.error("%s: customer %s has no address on this channel; message not sent",
                      self.name(), customer_id)
            await self.records.failed(self.name(), customer_id, "", "no_address", "no address on channel")
            if ref:
                await self.records.refused(ref, "no_address")
        return address or None

    async def _hold(self, customer_id: str, address: str, reason: str, message: Dict[str, Any],
                    slot: Optional[SendSlot], ref: Optional[str] = None) -> None:
        later = self.send_later(reason)
        log.warning("%s: message to customer %s held (%s); the agent is told%s", self.name(),
                    customer_id, reason, ", sent when the customer writes again" if later else "")
        await self.records.held(self.name(), customer_id, address, reason, message, send_later=later)
        if slot is not None:
            await self.records.slot_held(customer_id, slot)
        if ref:
            await self.records.refused(ref, f"held: {reason}")
        await self.on_held(customer_id, address, reason)

    async def _already_done(self, customer_id: str, slot: SendSlot) -> Optional[str]:
        """What the slot's send record says went out (a provider id, or HELD_MARK), or None."""
        done = await self.records.slot_outcome(customer_id, slot)
        if done is not None:
            log.info("%s: customer %s: %s position %d already %s; not sent again", self.name(),
                     customer_id, slot.source.split(":", 1)[0], slot.position,
                     "held" if done == HELD_MARK else "sent")
        return done

    async def _deliver(self, customer_id: str, address: str, payload: Payload,
                       slot: Optional[SendSlot] = None, message: Optional[Dict[str, Any]] = None,
                       ref: Optional[str] = None) -> Optional[str]:
        """Send one payload in `slot` (unless its record says it went out already); returns the
        provider id, HELD_MARK when the provider held `message` back, or None when it failed."""
        if slot is not None:
            done = await self._already_done(customer_id, slot)
            if done is not None:
                return done
        try:
            provider_id, details = await self.deliver(payload)
        except SendFailed as error:
            reason = self.held_by_provider(error)
            if reason and message is not None:
                log.warning("%s: provider refused a message to customer %s for now (code %s)",
                            self.name(), customer_id, error.code)
                await self._hold(customer_id, address, reason, message, slot, ref)
                return HELD_MARK
            log.error("%s: send to customer %s failed permanently: HTTP %s code %s", self.name(),
                      customer_id, error.status, error.code)
            await self.records.failed(self.name(), customer_id, address, error.code or error.status,
                                      error.detail)
            if ref:
                await self.records.refused(ref, f"provider_refused:{error.code or error.status}")
            await self.on_failed(customer_id, address, error)
            return None
        if ref:  # a receipt saying it failed later is copied to the reference too
            details = {**details, REF_FIELD: ref}
        # The send record first: from here a replay of the turn skips this payload.
        await self.records.sent(self.name(), provider_id, customer_id, address, slot=slot, **details)
        if slot is not None and slot.source.startswith("turn:") and not self._turn_confirmed:
            self._turn_confirmed = True
            failpoints.reach(failpoints.AFTER_PROVIDER_SEND)
        return provider_id
