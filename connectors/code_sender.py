"""`ChannelCodeSender`: one-time identity codes through the channels' own output classes.

The claim actions run in the action server, a separate process from the Rasa server. The
code is sent from there, directly, with the same output classes the Rasa server uses
(`WhatsAppOutput`, `SmsOutput`, `EmailOutput`) built from the same environment
(credentials.yml's `${ENV}` values; the sandbox in `make run`), so provider formats, limits,
retries, WhatsApp's 24-hour window, SMS opt-outs and email rate limits all apply. Sending
directly, rather than through a queue the Rasa server consumes, lets the action know whether
the code went out before it tells the customer "I've sent a code", and the output classes
keep no state outside the shared Redis.

A phone whose WhatsApp window is closed gets the code by SMS instead (the same number: still
the identifier's own channel). Codes never enter a tracker, the agent console's held list or
the logs.

The message is in the language of the conversation that asked for it (the claimant's `language`
slot): the one who will type the code there. By SMS it is a shorter text, GSM-7 in every
language (the pt-BR one leaves out the accents GSM-7 lacks), so it fits one segment.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from connectors.email.channel import EmailInput
from connectors.email.compose import Style
from connectors.email.config import EmailSettings
from connectors.email.smtp import SmtpSender
from connectors.sms import SmsInput
from connectors.webhook.config import ChannelNotConfigured
from connectors.webhook.records import ChannelRecords
from connectors.webhook.runtime import ChannelRuntime
from connectors.whatsapp import WhatsAppInput
from threadline.conversation.redis_connection import connect
from threadline.i18n import N_, Texts, texts_for
from threadline.identity.addresses import PHONE, InvalidAddress, identifier_for

log = logging.getLogger(__name__)

CODE_TEXT = N_("Your Threadline verification code is {code}. Someone asked to link this {what} to "
               "their conversation with us; if that was you, type the code there. It expires in "
               "{minutes} minutes. If it wasn't you, ignore this message.")
CODE_SMS = N_("Threadline code: {code}. Someone asked to link this number to a chat with us; if it was you, "
              "type it there. Expires in {minutes} min. Not you? Ignore this.")
EMAIL_ADDRESS_WORDS = N_("email address")
PHONE_WORDS = N_("phone number")
EMAIL_SUBJECT = N_("Your Threadline verification code")
CODE_MINUTES = 10


def code_message(channel: str, code: str, texts: Texts) -> str:
    """The one-time code's message for `channel`, in the catalogue's language."""
    minutes = texts.number(CODE_MINUTES)
    if channel == "sms":
        return texts.gettext(CODE_SMS).format(code=code, minutes=minutes)
    what = EMAIL_ADDRESS_WORDS if channel == "email" else PHONE_WORDS
    return texts.gettext(CODE_TEXT).format(code=code, what=texts.gettext(what), minutes=minutes)


class CodeNotSent(RuntimeError):
    """No channel could deliver the code now (not configured, window closed, refused)."""


class ChannelCodeSender:
    """`threadline.identity.ports.CodeSender` over WhatsApp, SMS (Twilio) and email (SMTP)."""

    def __init__(self, runtime: ChannelRuntime, channels: Dict[str, Any]) -> None:
        self.runtime = runtime
        self.channels = channels  # channel name → its input channel (configured ones only)

    @classmethod
    def from_env(cls, redis_url: str) -> "ChannelCodeSender":
        redis = connect(redis_url)
        # No resolver: every code goes to an explicit address.
        runtime = ChannelRuntime(redis=redis, records=ChannelRecords(redis), resolver=None)
        channels: Dict[str, Any] = {}
        for name, build in (("whatsapp", lambda: WhatsAppInput.from_credentials({})),
                            ("sms", lambda: SmsInput.from_credentials({})), ("email", _email_channel)):
            try:
                channel = build()
            except ChannelNotConfigured as error:
                log.warning("identity codes cannot go out by %s: %s", name, error)
                continue
            if channel is not None and channel.enabled():  # disabled: THREADLINE_ENV=production, no variables
                channels[name] = channel
        return cls(runtime, channels)

    async def send_code(self, channel: str, address: str, code: str, language: Optional[str] = None) -> None:
        texts = texts_for(language)
        if await self._send(channel, address, code_message(channel, code, texts), texts):
            return
        if channel == "whatsapp":
            phone = _phone_of(address)
            if phone and await self._send("sms", phone, code_message("sms", code, texts), texts):
                return
        # The address is PII: the log names the channel only.
        log.warning("identity code could not be sent by %s", channel)
        raise CodeNotSent(f"no way to send the code by {channel} now")

    async def _send(self, channel: str, address: str, text: str, texts: Texts) -> bool:
        source = self.channels.get(channel)
        if source is None:
            return False
        output = source.output_channel(address, self.runtime)
        if channel == "email":
            # "" as the customer: the mail starts its own thread (never onto the holder's last
            # mail); a reply to it is resolved by its sender like any new mail. Its greeting,
            # sign-off and subject follow the text's language.
            await output.send_text_message("", text, language=texts.language)
            return await output.flush("") is not None
        return await output.send_text_now("", text)

    async def close(self) -> None:
        await self.runtime.close()


def _email_channel() -> Optional[EmailInput]:
    if not EmailSettings.configured({}):
        return None
    channel = EmailInput(EmailSettings.from_credentials({}), style=Style(default_subject=EMAIL_SUBJECT))
    # `EmailInput.start` opens the SMTP sender inside the Rasa server; here we only send.
    channel.sender = SmtpSender(channel.settings.smtp)
    return channel


def _phone_of(whatsapp_address: str) -> Optional[str]:
    try:
        identifier = identifier_for("whatsapp", whatsapp_address)
    except InvalidAddress:
        return None
    return identifier.value if identifier.kind == PHONE else None
