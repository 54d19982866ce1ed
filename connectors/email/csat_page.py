"""The public page behind an email's CSAT rating links (GET/POST /webhooks/email/csat/<token>).

GET never rates: mail scanners and link previewers open every link of a mail, and a rating
recorded on GET would be theirs. It shows the chosen score with a button; the rating is the
button's POST (robots that prefetch do not submit forms). The POST claims the question's
single use (Redis SET NX, `EmailState.first_use_of_csat_link`) and queues the rating into the
customer's conversation through the shared inbox as the payload a tapped option sends
(`/csat_rating{"csat_score":"N"}`), so it is recorded by `action_record_csat` once and thanked
like a typed answer. A forged, expired or used link gets a page that says so and a log line
(the reason and the question id: no address, no customer data), never a 500. Pages are in the
customer's language (the conversation's `language` slot, else the browser's).
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.email.csat_links import LINK_DAYS, BadLink, LinkClaim, verify
from connectors.email.state import EmailState
from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.language import customer_language
from connectors.webhook.runtime import ChannelRuntime
from threadline.i18n import N_, Texts, texts_for
from threadline.insights.csat import QUESTION, SCORES, payload

log = logging.getLogger(__name__)

CHANNEL = "email"
USED_TTL_S = (LINK_DAYS + 1) * 24 * 3600  # longer than a link lives
PAGE_TITLE = N_("Your rating")
CHOSEN = N_("You chose: {choice}.")
SEND = N_("Send my rating")
OTHER = N_("Or choose another score:")
THANKS = N_("Thank you! Your rating is recorded.")
USED = N_("This rating link was already used. Thank you, your rating is recorded.")
EXPIRED = N_("This rating link has expired. You can still answer by replying to our email.")
INVALID = N_("This rating link is not valid.")
UNAVAILABLE = N_("We could not record your rating right now. Please try again in a few minutes.")

Accept = Callable[[InboundEvent], Awaitable[int]]


def link_event(claim: LinkClaim, customer_id: str, address: str, score: int) -> InboundEvent:
    """The inbox event of a confirmed rating: one per question (the event id dedupes too)."""
    return InboundEvent(
        channel=CHANNEL, kind=kinds.MESSAGE, event_id=f"csat-link:{claim.question_id}", address=address,
        payload=payload(score), message_type="csat_link",
        details={"email": {"csat_link": {"customer_id": customer_id, "question_id": claim.question_id}}})


def _score(raw: Optional[str]) -> Optional[int]:
    try:
        value = int((raw or "").strip())
    except ValueError:
        return None
    return value if value in SCORES else None


def _browser_language(request: Request) -> Optional[str]:
    wanted = (request.headers.get("accept-language") or "").strip().lower()
    return "pt" if wanted.startswith("pt") else None


def page(texts: Texts, body: str, status: int = 200) -> HTTPResponse:
    title = html.escape(texts.gettext(PAGE_TITLE))
    lang = "pt-BR" if texts.locale == "pt_BR" else "en"
    return response.html(
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem;margin:.25rem;cursor:pointer}"
        "button.send{font-weight:bold}</style></head>"
        f"<body><main>{body}</main></body></html>",
        status=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def message_page(texts: Texts, text: str, status: int, kind: str) -> HTTPResponse:
    return page(texts, f'<p class="{kind}" role="status">{html.escape(texts.gettext(text))}</p>', status)


def confirm_page(texts: Texts, language: Optional[str], score: int) -> HTTPResponse:
    question, titles = QUESTION[language if language in QUESTION else "en"]
    choice = titles[score - 1]
    others = "".join(f'<button type="submit" name="score" value="{s}">{html.escape(titles[s - 1])}</button>'
                     for s in SCORES if s != score)
    return page(texts, (
        f"<h1>{html.escape(question)}</h1>"
        f'<p class="chosen">{html.escape(texts.gettext(CHOSEN).format(choice=choice))}</p>'
        '<form method="post">'
        f'<button type="submit" class="send" name="score" value="{score}" autofocus>'
        f"{html.escape(texts.gettext(SEND))}</button>"
        f"<p>{html.escape(texts.gettext(OTHER))}</p>{others}</form>"))


@dataclass
class CsatLinkPage:
    """GET shows the choice, POST rates. `secret` is read when a link is first checked;
    `accept` stores an event in the email channel's inbox."""
    secret: Callable[[], str]
    runtime: Callable[[], Optional[ChannelRuntime]]
    accept: Accept

    async def show(self, request: Request, token: str) -> HTTPResponse:
        claim, texts, refused = await self._checked(request, token)
        if refused is not None:
            return refused
        score = _score(request.args.get("score"))
        language = texts.language
        if score is None:
            return message_page(texts, INVALID, 400, "invalid")
        return confirm_page(texts, language, score)

    async def rate(self, request: Request, token: str) -> HTTPResponse:
        claim, texts, refused = await self._checked(request, token)
        if refused is not None:
            return refused
        score = _score(request.form.get("score"))
        if score is None:
            return message_page(texts, INVALID, 400, "invalid")
        runtime = self.runtime()
        try:
            customer_id = await runtime.resolver.canonical(claim.customer_id)
            address = await runtime.resolver.reply_address(customer_id, CHANNEL) or ""
            state = EmailState(runtime.redis)
            if not await state.first_use_of_csat_link(claim.question_id, USED_TTL_S):
                log.info("email: csat link of question %d refused: already used", claim.question_id)
                return message_page(texts, USED, 409, "used")
            try:
                await self.accept(link_event(claim, customer_id, address, score))
            except Exception:
                await state.forget_csat_link_use(claim.question_id)  # not queued: the link works again
                raise
        except Exception as error:  # Redis, the identity index or the inbox: a page, never a 500
            log.error("email: csat link of question %d not recorded: %s", claim.question_id, type(error).__name__)
            return message_page(texts, UNAVAILABLE, 503, "unavailable")
        log.info("email: csat link of question %d: rating queued", claim.question_id)
        return message_page(texts, THANKS, 200, "thanks")

    async def _checked(self, request: Request, token: str) -> tuple[Optional[LinkClaim], Texts, Optional[HTTPResponse]]:
        """The claim and the customer's texts, or the page that refuses the link."""
        browser = texts_for(_browser_language(request))
        try:
            claim = verify(self.secret(), token)
        except BadLink as bad:
            log.warning("email: csat link refused: %s", bad.reason)
            if bad.reason == "expired":
                return None, browser, message_page(browser, EXPIRED, 410, "expired")
            return None, browser, message_page(browser, INVALID, 403, "invalid")
        runtime = self.runtime()
        if runtime is None:
            return claim, browser, message_page(browser, UNAVAILABLE, 503, "unavailable")
        try:
            customer_id = await runtime.resolver.canonical(claim.customer_id)
            language = await customer_language(runtime.conversation_log, customer_id) or browser.language
            texts = texts_for(language)
            if request.method == "GET" and await EmailState(runtime.redis).csat_link_used(claim.question_id):
                log.info("email: csat link of question %d shown as used", claim.question_id)
                return claim, texts, message_page(texts, USED, 409, "used")
        except Exception as error:  # Redis or the identity index: a page, never a 500
            log.error("email: csat link of question %d: %s", claim.question_id, type(error).__name__)
            return claim, browser, message_page(browser, UNAVAILABLE, 503, "unavailable")
        return claim, texts, None
