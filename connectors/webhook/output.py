"""`WebhookOutput`: the Rasa output channel every provider connector builds on.

Rasa calls `send_*(customer id, ...)`. This class finds the address (the one the message
came from, or the resolver's reply address for the channel), checks whether we may send now
(windows, opt-out), splits long texts, renders buttons natively or as numbered options, sends
through `ProviderClient` (retries) and records the outcome. It never raises into Rasa: a
failed send is recorded, not retried by re-running the bot turn.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from rasa.core.channels.channel import OutputChannel

from connectors.webhook.offers import Offer
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.sender import SendFailed
from connectors.webhook.text import split_text

log = logging.getLogger(__name__)

Payload = Dict[str, Any]


def typed_by_human(kwargs: Dict[str, Any]) -> bool:
    """Agent messages carry `"metadata": {"sent_by": "agent"}` on their bot event."""
    return kwargs.get("sent_by") == "agent"


class WebhookOutput(OutputChannel):
    def __init__(self, runtime: ChannelRuntime, address: Optional[str] = None) -> None:
        self.runtime = runtime
        self.records = runtime.records
        self.address = address

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

    def send_later(self, reason: str) -> bool:
        """Whether a message held for `reason` goes out by itself when the customer writes
        again (a closed window reopens); otherwise only an agent can act on it."""
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
        each one is marked sent once it went out. Returns how many went out."""
        address = self.address
        count = 0
        for held in await self.records.held_messages(self.name(), address) if address else []:
            kwargs = held["message"].get("kwargs") or {}
            if await self.hold_reason(address, kwargs):
                break  # still closed (e.g. an old message replayed): keep them, in order
            provider_ids = await self._send_now(customer_id, address, held["message"], kwargs)
            await self.records.held_sent(self.name(), address, held, provider_ids)
            count += 1
        if count:
            log.info("%s: sent %d held messages to customer %s", self.name(), count, customer_id)
        return count

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
        address = await self._sendable_address(customer_id, message, kwargs)
        if address is None:
            return []
        return await self._send_now(customer_id, address, message, kwargs)

    async def _send_now(self, customer_id: str, address: str, message: Dict[str, Any],
                        kwargs: Dict[str, Any]) -> List[str]:
        """Render and deliver; returns the provider ids of what went out."""
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
        sent = [await self._deliver(customer_id, address, payload) for payload in payloads]
        return [provider_id for provider_id in sent if provider_id]

    async def _buttons(self, customer_id: str, address: str, text: str, buttons: List[Dict[str, Any]],
                       kwargs: Dict[str, Any]) -> List[Payload]:
        native = self.buttons_payload(address, text, buttons, kwargs)
        # Recorded before sending (a fast tap may come back first): only the current
        # offer's payloads are accepted from the customer (connectors/webhook/offers.py).
        await self.records.offer(customer_id, Offer.of_buttons(self.name(), buttons, numbered=native is None))
        if native is not None:
            return [native]
        lines = [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
        numbered = "\n".join([text, "", *lines, "", "Reply with the number of your choice."])
        return [self.text_payload(address, part, kwargs) for part in split_text(numbered, self.fits)]

    async def _sendable_address(self, customer_id: str, message: Dict[str, Any],
                                kwargs: Dict[str, Any]) -> Optional[str]:
        address = self.address or await self.runtime.resolver.reply_address(customer_id, self.name())
        if not address:
            log.error("%s: customer %s has no address on this channel; message not sent",
                      self.name(), customer_id)
            await self.records.failed(self.name(), customer_id, "", "no_address", "no address on channel")
            return None
        reason = await self.hold_reason(address, kwargs)
        if reason:
            later = self.send_later(reason)
            log.warning("%s: message to customer %s held (%s); the agent is told%s", self.name(),
                        customer_id, reason, ", sent when the customer writes again" if later else "")
            queued = {**message, **({"kwargs": {"sent_by": kwargs["sent_by"]}} if "sent_by" in kwargs else {})}
            await self.records.held(self.name(), customer_id, address, reason, queued, send_later=later)
            await self.on_held(customer_id, address, reason)
            return None
        return address

    async def _deliver(self, customer_id: str, address: str, payload: Payload) -> Optional[str]:
        try:
            provider_id, details = await self.deliver(payload)
        except SendFailed as error:
            log.error("%s: send to customer %s failed permanently: HTTP %s code %s", self.name(),
                      customer_id, error.status, error.code)
            await self.records.failed(self.name(), customer_id, address, error.code or error.status,
                                      error.detail)
            await self.on_failed(customer_id, address, error)
            return None
        await self.records.sent(self.name(), provider_id, customer_id, address, **details)
        return provider_id
