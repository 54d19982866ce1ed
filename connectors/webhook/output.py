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

    # --- Rasa's API ---------------------------------------------------------------------
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        address = await self._sendable_address(recipient_id, {"text": text}, kwargs)
        if address is None:
            return
        for part in split_text(text, self.fits):
            await self._deliver(recipient_id, address, self.text_payload(address, part, kwargs))

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        address = await self._sendable_address(recipient_id, {"text": text, "buttons": buttons}, kwargs)
        if address is None:
            return
        native = self.buttons_payload(address, text, buttons, kwargs)
        if native is not None:
            await self._deliver(recipient_id, address, native)
            return
        await self.records.offer_options(self.name(), address, [b.get("payload") or b.get("title", "")
                                                                for b in buttons])
        lines = [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
        numbered = "\n".join([text, "", *lines, "", "Reply with the number of your choice."])
        for part in split_text(numbered, self.fits):
            await self._deliver(recipient_id, address, self.text_payload(address, part, kwargs))

    async def send_quick_replies(self, recipient_id: str, text: str,
                                 quick_replies: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        address = await self._sendable_address(recipient_id, {"image": image}, kwargs)
        if address is None:
            return
        payload = self.image_payload(address, image, kwargs)
        await self._deliver(recipient_id, address, payload or self.text_payload(address, image, kwargs))

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        address = await self._sendable_address(recipient_id, {"custom": json_message}, kwargs)
        payload = self.custom_payload(address, json_message) if address else None
        if payload is None:
            log.warning("%s: custom payload not supported here; not sent", self.name())
            return
        await self._deliver(recipient_id, address, payload)

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
            log.warning("%s: message to customer %s held (%s); the agent is told", self.name(),
                        customer_id, reason)
            await self.records.held(self.name(), customer_id, address, reason, message)
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
