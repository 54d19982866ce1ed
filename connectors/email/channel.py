"""`EmailInput`: the email channel in the Rasa server (credentials.yml key
`connectors.email.channel.EmailInput`), built on the shared inbox pipeline.

IMAP reader (server loop) → `parse_email` (on a parser thread; unparseable or oversized mail
is quarantined) → inbox (dedupe by Message-ID, the sender's lane; the event carries the mail's
details) → consumer (the inbox worker process), in order per sender → conversation
(identity resolver: the sender, or its unverified contact when no trusted server vouched for
the From; thread headers never move a mail to another customer) → robots are recorded in the
inbox activity, never answered; mail older than EMAIL_BACKLOG_HOURS found at the first start is
recorded in the CRM timeline as unanswered (connectors/email/unanswered.py), never answered →
`UserMessage` with the new text only → Rasa → one threaded reply per turn over SMTP
(`EmailOutput`). The CSAT question carries signed rating links (connectors/email/csat_links.py);
a rating confirmed on their page (csat_page.py) enters the same inbox as an event whose
payload is the option's, and runs as the customer's turn.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint
from sanic.request import Request

from connectors.email.compose import Part, Style, build_reply, turn_language
from connectors.email.csat_links import CsatLinks
from connectors.email.csat_page import CsatLinkPage
from connectors.email.config import EmailSettings
from connectors.email.imap import ImapReader
from connectors.email.reader_lease import ReadWhileLeased
from connectors.email.mailgun import TOKEN_TTL_S, MailgunRejected, verified_mime
from connectors.email.message import ParsedEmail, UnparseableMail, parse_email, thread_ids
from connectors.email.smtp import SmtpSender, SmtpSendFailed
from connectors.email.state import EmailState, ThreadParent
from connectors.email.unanswered import UnansweredMailRecorder
from connectors.webhook import events as kinds
from connectors.webhook.channel import MEDIA_INTENT, OnNewMessage, Rejected, WebhookInput, already_a_turn, inbound_key
from connectors.webhook.events import InboundEvent
from connectors.webhook.language import customer_language, message_language
from connectors.webhook.offers import Offer
from connectors.webhook.records import HELD_MARK, SendSlot, turn_source
from connectors.webhook.runtime import ChannelRuntime
from connectors.webhook.typed_text import typed_text_for_nlu
from threadline.conversation import failpoints
from threadline.insights.csat import RESPONSE as CSAT_QUESTION, SCORES, payload as csat_payload
from threadline.privacy.cpf import mask_cpfs

log = logging.getLogger(__name__)

CHANNEL = "email"
# Where the IMAP reader runs: in every Rasa server (unset, leased) or only in `serve email`.
READER_ENV = "THREADLINE_EMAIL_READER"
SEPARATE = "separate"
SEND_RETRY_DELAYS_S = (1.0, 5.0, 20.0)
EMAIL_OFFER_TTL_S = 7 * 24 * 3600  # mail is answered in days, not minutes
MAX_FULL_TEXT = 200_000  # characters of the original kept for agents (newsletters can be huge)
# What NLU reads of a mail's new text: a real question fits many times over, and a megabyte
# line would cost the classifier seconds. Agents still see the whole mail (`full_text`).
MAX_TEXT_FOR_BOT = 5_000
# `details["email"]["unanswered"]` of mail found at the reader's first start, older than EMAIL_BACKLOG_HOURS.
UNANSWERED_BACKLOG = "received before the first start, older than EMAIL_BACKLOG_HOURS"
# Parsing a large mail takes up to a few hundred ms of CPU: never on the server's loop, and at
# most two at a time, so a burst of big mail cannot take every thread of the default executor.
_PARSER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="email-parse")


def event_for(mail: ParsedEmail) -> InboundEvent:
    """The inbox event: new text for the bot, the rest of the mail in `details["email"]`."""
    full = mail.full_text if len(mail.full_text) <= MAX_FULL_TEXT else mail.full_text[:MAX_FULL_TEXT] + "\n[…]"
    return InboundEvent(
        channel=CHANNEL, kind=kinds.MESSAGE, event_id=mail.event_id, address=mail.sender,
        provider_message_id=mail.message_id, timestamp=mail.timestamp, text=mail.new_text[:MAX_TEXT_FOR_BOT],
        message_type="email", media=mail.attachments, profile_name=mail.sender_name,
        # The subject and the full text are kept in the conversation's metadata: CPFs masked
        # there too (threadline/privacy/cpf.py); `text` is masked on its way to Rasa.
        details={"email": {"subject": mask_cpfs(mail.subject), "in_reply_to": mail.in_reply_to,
                           "references": mail.references, "full_text": mask_cpfs(full),
                           "authenticated": mail.authenticated, "robot": mail.robot}},
    )


class EmailInput(WebhookInput):
    # IMAP may show a mail again (UIDVALIDITY reset, restored backup): remember ids a while.
    dedupe_ttl_s = 60 * 24 * 3600

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    def __init__(self, settings: Optional[EmailSettings], *, style: Style = Style(),
                 reply_limit: int = 10, reply_window_s: int = 3600, idle_s: float = 300,
                 imap_ssl_context: Optional[ssl.SSLContext] = None,
                 smtp_tls_context: Optional[ssl.SSLContext] = None,
                 send_retry_delays_s: tuple = SEND_RETRY_DELAYS_S, csat_links: Optional[CsatLinks] = None,
                 **kwargs: Any) -> None:
        super().__init__(sandbox=False, **kwargs)
        self.settings = settings
        self.style = style
        self.reply_limit = reply_limit
        self.reply_window_s = reply_window_s
        self.idle_s = idle_s
        self.imap_ssl_context = imap_ssl_context
        self.smtp_tls_context = smtp_tls_context
        self.send_retry_delays_s = send_retry_delays_s
        self._csat_links = csat_links
        # Stateless (one connection per mail): the edge (agent messages) and the consumer share it.
        self.sender: Optional[SmtpSender] = (
            SmtpSender(settings.smtp, tls_context=smtp_tls_context) if settings else None)
        self.reader: Optional[ImapReader] = None
        self.lease: Optional[ReadWhileLeased] = None
        self._reader_task: Optional[asyncio.Task] = None
        # False when `bin/threadline serve email` processes read the mailbox instead
        # (THREADLINE_EMAIL_READER=separate): this server then only answers the Mailgun webhook.
        self.reads_imap = os.environ.get(READER_ENV, "").strip().lower() != SEPARATE
        # Used where the consumer runs (handle_event); closed by stop_consuming.
        self.unanswered = UnansweredMailRecorder()

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "EmailInput":
        credentials = credentials or {}
        style = Style(**{k: str(credentials[k]) for k in ("from_name", "greeting", "sign_off",
                                                          "choose_hint", "default_subject")
                         if credentials.get(k)})
        return cls(
            EmailSettings.from_credentials(credentials) if EmailSettings.configured(credentials) else None,
            style=style,
            reply_limit=int(credentials.get("reply_limit_per_hour") or 10),
            idle_s=float(credentials.get("idle_seconds") or 300),
        )

    @property
    def csat_links(self) -> CsatLinks:
        """The signer of CSAT rating links (CSAT_LINK_SECRET, CSAT_LINK_BASE_URL), read when first needed."""
        if self._csat_links is None:
            self._csat_links = CsatLinks.from_env()
        return self._csat_links

    async def _accept_rating(self, event: InboundEvent) -> int:
        if self.inbox is None:
            raise RuntimeError("email inbox not open")
        return await self.inbox.accept([event])

    # --- the shared pipeline's hooks: the optional Mailgun webhook, the CSAT link page ---
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = super().blueprint(on_new_message)
        ratings = CsatLinkPage(lambda: self.csat_links.secret, lambda: self.runtime if self.inbox else None,
                               self._accept_rating)

        @bp.route("/csat/<token>", methods=["GET"])
        async def csat_choice(request: Request, token: str):
            return await ratings.show(request, token)

        @bp.route("/csat/<token>", methods=["POST"])
        async def csat_rating(request: Request, token: str):
            return await ratings.rate(request, token)

        @bp.route("/mailgun/mime", methods=["POST"])
        async def mailgun(request: Request):
            return await self.receive(request)

        return bp

    def enabled(self) -> bool:
        return self.settings is not None

    def state(self) -> str:
        return "disabled" if self.settings is None else super().state()

    def verify(self, request: Request) -> None:
        """Signature and timestamp window of a Mailgun POST."""
        key = self.settings.mailgun_signing_key if self.settings else ""
        if not key:
            raise Rejected(404, "no inbound email webhook configured (EMAIL_MAILGUN_SIGNING_KEY)")
        try:
            request.ctx.mime = verified_mime(request.form, key)
        except MailgunRejected as rejected:
            raise Rejected(rejected.status, rejected.reason)

    async def admit(self, request: Request) -> List[InboundEvent]:
        """A signed, fresh, first-seen Mailgun POST → its mail's event (parsed off the loop)."""
        self.verify(request)
        if self.runtime is None:
            raise Rejected(503, "channel starting")
        state = EmailState(self.runtime.redis)
        try:
            first = await state.first_use_of_mailgun_token(request.form.get("token"), TOKEN_TTL_S)
        except RedisError:
            raise Rejected(503, "replay check unavailable (Redis)")  # fail closed; Mailgun retries
        if not first:
            raise Rejected(403, "Mailgun token already used (replay)")
        mime = request.ctx.mime
        try:
            return [await self.parsed_event(mime)]
        except UnparseableMail as refused:
            await state.quarantine("mailgun", None, len(mime), refused.reason)
            raise Rejected(406, f"mail quarantined: {refused.reason}")  # 406: Mailgun stops retrying

    def output_channel(self, address: Optional[str], runtime: Optional[ChannelRuntime] = None) -> "EmailOutput":
        # No address: Rasa's HTTP API (agent messages), each message is sent at once.
        return EmailOutput(self, runtime or self.runtime, address, immediate=address is None)

    async def start(self, on_new_message: OnNewMessage, is_ready: Callable[[], bool]) -> None:
        if self.settings is None:
            log.warning("email channel not configured (EMAIL_ADDRESS, EMAIL_IMAP_HOST, EMAIL_SMTP_HOST "
                        "unset): no mailbox is read")
            return
        if not self.settings.authserv_ids:
            log.warning("email: EMAIL_AUTHSERV_ID is not set, so no Authentication-Results header is trusted: "
                        "every inbound mail is answered as an unverified contact (docs/email.md)")
        await super().start(on_new_message, is_ready)
        if self.settings.imap is None:
            log.info("email: no IMAP server configured; mail arrives through the Mailgun webhook only")
            return
        if not self.reads_imap:
            log.info("email: the IMAP reader runs in `bin/threadline serve email` (%s=%s)", READER_ENV, SEPARATE)
            return
        # The reader runs on the server loop, like webhook requests; the bot's turns run in
        # the inbox worker with their own Redis clients.
        self.reader = ImapReader(self.settings.imap, self.settings.mailbox, self.settings.mailbox_key,
                                 EmailState(self.runtime.redis), self.accept_mail,
                                 record_unanswered=self.accept_unanswered_mail, ssl_context=self.imap_ssl_context,
                                 idle_s=self.idle_s, backlog_hours=self.settings.backlog_hours,
                                 max_bytes=self.settings.max_bytes)
        # One reader per mailbox across servers: only the lease holder reads (reader_lease.py).
        self.lease = ReadWhileLeased(self.runtime.redis, self.settings.mailbox_key, self.reader)
        self._reader_task = asyncio.create_task(self.lease.run())

    async def stop(self) -> None:
        if self.reader:
            self.reader.stop()
        if self._reader_task:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        await super().stop()

    async def stop_consuming(self) -> None:
        await super().stop_consuming()
        await self.unanswered.close()

    # --- IMAP → inbox -------------------------------------------------------------------
    def mail_event(self, raw: bytes) -> InboundEvent:
        """The inbox event of a raw mail, or `UnparseableMail` (CPU-bound: see `parsed_event`)."""
        mail = parse_email(raw, self.settings.authserv_ids)
        if mail.sender == self.settings.address:
            mail.robot = "our own address"
        return event_for(mail)

    async def parsed_event(self, raw: bytes) -> InboundEvent:
        """`mail_event` on a parser thread, so webhooks keep being answered meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(_PARSER, self.mail_event, raw)

    async def accept_mail(self, uid: int, raw: bytes) -> None:
        """The reader's handler; `UnparseableMail` makes the reader quarantine the mail."""
        new = await self.inbox.accept([await self.parsed_event(raw)])
        log.info("email: UID %d %s", uid, "queued" if new else "already seen (duplicate Message-ID)")

    async def accept_unanswered_mail(self, uid: int, raw: bytes) -> None:
        """The reader's handler for mail that waited too long before the first start: it goes
        through the same inbox (dedupe, order, customer) and is recorded in the CRM, not answered."""
        event = await self.parsed_event(raw)
        event.details["email"]["unanswered"] = UNANSWERED_BACKLOG
        new = await self.inbox.accept([event])
        log.info("email: UID %d %s", uid, "queued to be recorded unanswered (older than EMAIL_BACKLOG_HOURS)"
                 if new else "already seen (duplicate Message-ID)")

    # --- inbox → conversation (runs where `consume` runs, with its `runtime`) ------------
    async def customer_for(self, event: InboundEvent, runtime: ChannelRuntime) -> tuple[str, bool]:
        """The conversation a mail belongs to, and whether its thread headers point there too.

        The sender decides: the customer owning the From address when a trusted server vouched
        for it, else the unverified contact of that address. Thread headers are written by the
        sender, so they never move a mail into another customer's conversation."""
        email = event.details.get("email", {})
        verified = bool(email.get("authenticated"))
        customer_id = await runtime.resolver.resolve(CHANNEL, event.address, profile_name=event.profile_name,
                                                     verified=verified)
        if not verified:
            log.info("email: From address not authenticated by a trusted server; answered as unverified "
                     "contact %s", customer_id)
        ids = thread_ids(email.get("in_reply_to", []), email.get("references", []))
        threaded = await EmailState(runtime.redis).thread_customer(ids)
        if threaded and threaded != customer_id:
            threaded = await runtime.resolver.canonical(threaded)  # merged since
            if threaded != customer_id:
                log.warning("email: thread headers name another customer's conversation; "
                            "mail kept with its sender %s", customer_id)
        return customer_id, threaded == customer_id

    async def handle_event(self, event: InboundEvent, on_new_message: OnNewMessage,
                           runtime: ChannelRuntime) -> None:
        state, records = EmailState(runtime.redis), runtime.records
        email = event.details.get("email", {})
        if email.get("csat_link"):
            await self.rating_from_link(event, email["csat_link"], on_new_message, runtime)
            return
        customer_id, threaded = await self.customer_for(event, runtime)
        if event.provider_message_id:
            await state.remember_thread(event.provider_message_id, customer_id)
        if email.get("robot"):
            log.info("email: automatic mail (%s) recorded for %s, not answered", email["robot"], customer_id)
            await records.activity(customer_id, event)
            return
        if email.get("unanswered"):
            # CRM first: if it is unavailable the entry fails and is retried, the key dedupes.
            new = await self.unanswered.record(customer_id, event)
            log.info("email: mail %s %s for %s in the CRM as unanswered", email["unanswered"],
                     "recorded" if new else "already recorded", customer_id)
            await records.activity(customer_id, event)
            return
        output = self.output_channel(event.address, runtime).for_turn(inbound_key(event))
        if await already_a_turn(runtime, customer_id, event.event_id):
            # Replayed after the turn was saved: not run again; its reply goes out if it did not.
            log.info("email: mail %s of customer %s is already a turn in their log (a replay): "
                     "not run again", event.event_id, customer_id)
            await output.flush_staged(customer_id)
            return
        await records.inbound_seen(CHANNEL, event.address, event.timestamp)
        if event.provider_message_id:
            await state.set_last_inbound(customer_id, ThreadParent(
                message_id=event.provider_message_id, references=email.get("references", []),
                subject=email.get("subject", ""), address=event.address, name=event.profile_name or ""))
        text = await self.text_for_bot(event, runtime, customer_id)
        if text is None:
            await records.activity(customer_id, event)
            return
        await on_new_message(UserMessage(
            text=text, output_channel=output, sender_id=customer_id, input_channel=CHANNEL,
            message_id=event.event_id,
            # sender_verified: whether the From address wrote this (actions refuse claims otherwise).
            metadata={**event.metadata(), "customer_id": customer_id, "thread_matched": threaded,
                      "sender_verified": bool(email.get("authenticated"))},
        ))
        await output.flush(customer_id)

    async def rating_from_link(self, event: InboundEvent, link: Dict[str, Any], on_new_message: OnNewMessage,
                               runtime: ChannelRuntime) -> None:
        """A rating confirmed on the CSAT link page: the customer's turn with the option's payload
        (the link was signed for this customer; the page built the payload from a score 1-5)."""
        customer_id = await runtime.resolver.canonical(link["customer_id"])
        if event.payload not in {csat_payload(score) for score in SCORES}:
            log.warning("email: csat link event of customer %s without a rating payload: ignored", customer_id)
            return
        # One mail for the turn (the thanks), staged like a mail's reply; no address: the customer's.
        output = EmailOutput(self, runtime, event.address or None, immediate=False).for_turn(inbound_key(event))
        if await already_a_turn(runtime, customer_id, event.event_id):
            log.info("email: csat rating %s of customer %s is already a turn (a replay)", event.event_id, customer_id)
            await output.flush_staged(customer_id)
            return
        await on_new_message(UserMessage(
            text=event.payload, output_channel=output, sender_id=customer_id, input_channel=CHANNEL,
            message_id=event.event_id,
            metadata={**event.metadata(), "customer_id": customer_id, "sender_verified": False},
        ))
        await output.flush(customer_id)

    async def text_for_bot(self, event: InboundEvent, runtime: ChannelRuntime, customer_id: str) -> Optional[str]:
        """What NLU sees: the chosen option, else the new text as words (never "/intent");
        None when there is nothing."""
        text = (event.text or "").strip()
        if text:
            offer = await runtime.records.current_offer(customer_id)
            chosen = offer.chosen(CHANNEL, text, by_title=True) if offer else None
            return chosen or typed_text_for_nlu(text) or None
        return MEDIA_INTENT if event.media else None


class EmailOutput(OutputChannel):
    """Collects a bot turn into one mail (`immediate=False`), or sends each message at once
    (agent messages through Rasa's HTTP API).

    A turn's mail is its one payload (position 0 of the turn's send records). Its parts are
    staged in the send record while the turn runs, because the mail goes out only after Rasa
    saved the turn: a replay that finds the turn saved sends the staged mail unless it went."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    def __init__(self, channel: EmailInput, runtime: ChannelRuntime, address: Optional[str], *,
                 immediate: bool) -> None:
        self.channel = channel
        self.runtime = runtime
        self.state = EmailState(runtime.redis)
        self.address = address
        self.immediate = immediate
        self.parts: List[Part] = []
        self.slot: Optional[SendSlot] = None

    def for_turn(self, key: str) -> "EmailOutput":
        """This output answers inbound mail `key` (connectors.webhook.channel.inbound_key)."""
        self.slot = SendSlot(turn_source(key), 0)
        return self

    async def _add(self, recipient_id: str, part: Part) -> None:
        self.parts.append(part)
        if self.immediate:
            await self.flush(recipient_id)
        elif self.slot is not None:
            await self.runtime.records.stage_parts(recipient_id, self.slot.source,
                                                   [dataclasses.asdict(p) for p in self.parts])

    async def flush_staged(self, customer_id: str) -> Optional[str]:
        """Send the mail the turn staged, unless its send record says it went out."""
        if self.slot is None:
            return None
        self.parts = [Part(**p) for p in await self.runtime.records.staged_parts(customer_id, self.slot.source)]
        return await self.flush(customer_id)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._add(recipient_id, Part(text=text, language=message_language(kwargs)))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        links: List[str] = []
        if kwargs.get("utter_action") == CSAT_QUESTION and kwargs.get("csat_request_id") is not None:
            # One signed link per option; the options are the scores 1-5 in order (csat.question).
            links = self.channel.csat_links.for_question(recipient_id, int(kwargs["csat_request_id"]),
                                                         list(SCORES)[:len(buttons)])
        await self._add(recipient_id, Part(text=text, buttons=buttons, language=message_language(kwargs), links=links))

    async def send_quick_replies(self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]],
                                 **kwargs: Any) -> None:
        await self._add(recipient_id, Part(text=text, buttons=quick_replies, language=message_language(kwargs)))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._add(recipient_id, Part(image=image))

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self._add(recipient_id, Part(text=attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        log.warning("email: custom payloads have no email rendering; not sent")

    async def flush(self, customer_id: str) -> Optional[str]:
        """Send what the turn produced as one threaded mail; returns its Message-ID."""
        parts, self.parts = self.parts, []
        if not parts:
            return None
        channel, records, state = self.channel, self.runtime.records, self.state
        if self.slot is not None:
            done = await records.slot_outcome(customer_id, self.slot)
            if done is not None:
                log.info("email: the reply to customer %s was already %s; not sent again", customer_id,
                         "held" if done == HELD_MARK else "sent")
                return None if done == HELD_MARK else done
        address = self.address or await self.runtime.resolver.reply_address(customer_id, CHANNEL)
        if not address:
            await records.failed(CHANNEL, customer_id, "", "no_address", "no email address for customer")
            return None
        if not await state.allow_reply(address, channel.reply_limit, channel.reply_window_s):
            log.warning("email: reply rate limit reached for customer %s; held for an agent", customer_id)
            await records.held(CHANNEL, customer_id, address, "email reply rate limit",
                               {"text": "\n\n".join(p.text for p in parts if p.text)})
            if self.slot is not None:
                await records.slot_held(customer_id, self.slot)
            return None
        parent = await state.last_inbound(customer_id)
        if parent and parent.address != address:
            parent = None  # never thread onto someone else's mail
        language = turn_language(parts) or await customer_language(self.runtime.conversation_log, customer_id)
        message = build_reply(sender=channel.settings.address, sender_name=channel.style.from_name,
                              to=address, to_name=parent.name if parent else None, parts=parts,
                              parent=parent, style=channel.style, language=language)
        buttons = [button for part in parts for button in part.buttons]  # numbered in order
        if buttons:
            await records.offer(customer_id, Offer.of_buttons(CHANNEL, buttons, numbered=True), ttl_s=EMAIL_OFFER_TTL_S)
        message_id = message["Message-ID"]
        await state.remember_thread(message_id, customer_id)  # before sending: replies may be fast
        if await self._send(customer_id, address, message):
            await records.sent(CHANNEL, message_id, customer_id, address, slot=self.slot, subject=message["Subject"])
            if self.slot is not None:
                failpoints.reach(failpoints.AFTER_PROVIDER_SEND)
            return message_id
        return None

    async def _send(self, customer_id: str, address: str, message: Any) -> bool:
        delays = self.channel.send_retry_delays_s
        for attempt in range(len(delays) + 1):
            try:
                await self.channel.sender.send(message)
                return True
            except SmtpSendFailed as error:
                if error.permanent or attempt == len(delays):
                    log.error("email: send to customer %s failed: %s", customer_id, error.reason)
                    await self.runtime.records.failed(CHANNEL, customer_id, address, "smtp", error.reason)
                    return False
                await asyncio.sleep(delays[attempt])
        return False
