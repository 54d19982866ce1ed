"""CSAT (issue #17): the 1-5 question after a handoff is closed, the answer, and the score.

Rules of asking (`why_not_ask`), checked in one transaction with the row that records the
question, so two closes racing ask once:
- never a customer who opted out on the channel (SMS STOP; `opted_out`);
- never while the customer has a complaint case still open (the cycle ended unresolved);
- never again until QUIET_DAYS (7) have passed since the last question, answered or not
  (asked at 15:00 on the 2nd: no question until 15:00:01 on the 9th);
- never twice about the same handoff (unique trigger + source id).
The question goes out through Rasa's HTTP API as a bot message with five buttons, so each
channel renders it its own way (WhatsApp list, Instagram quick replies, RCS suggested replies,
a numbered list by SMS and email, where "4" answers, and by email each option is also a signed
link to a rating page, connectors/email/csat_page.py, which sends the same payload; the event's
metadata names the question, `csat_request_id`) and the options become the customer's
current offer (connectors/webhook/offers.py). The payloads, `/csat_rating{"csat_score":"N"}`,
run `action_record_csat` (actions/csat.py), which calls `record_answer`: the newest unanswered
question of the last QUIET_DAYS takes the score; a second answer changes nothing.
Score = (4s + 5s) / responses; response rate = responses / questions asked (`csat_metric`).
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Protocol, Tuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Case, ChannelIdentity, Customer
from threadline.crm.models.base import utcnow
from threadline.crm.models.csat import CsatRequest
from threadline.identity import directory
from threadline.insights.model import CsatRow, Metric, Row

log = logging.getLogger("threadline.insights.csat")

QUIET_DAYS = 7
SCORES = (1, 2, 3, 4, 5)
RESPONSE = "utter_csat_question"  # the name the CRM timeline records for the question
# English first, then Brazilian Portuguese (Customer.language "pt"); titles fit every channel's
# button limit (Instagram quick replies 20, WhatsApp list rows 24 characters).
QUESTION = {
    "en": ("How would you rate the help you got today, from 1 (very bad) to 5 (excellent)?",
           ("1 - Very bad", "2 - Bad", "3 - OK", "4 - Good", "5 - Excellent")),
    "pt": ("Que nota você dá para o atendimento de hoje, de 1 (muito ruim) a 5 (excelente)?",
           ("1 - Muito ruim", "2 - Ruim", "3 - Regular", "4 - Bom", "5 - Excelente")),
}
# SMS in GSM-7: no accents outside it ("você" would halve the segment).
SMS_QUESTION = {
    "en": "How would you rate the help you got today, from 1 (very bad) to 5 (excellent)?",
    "pt": "Que nota voce da para o atendimento de hoje, de 1 (muito ruim) a 5 (excelente)?",
}
# Channels that show options as a numbered list, answered with the number (or, by email, the words).
NUMBERED_CHANNELS = ("sms", "email")
_DIGIT = re.compile(r"(?<!\d)([1-5])(?!\d)")
_OUT_OF_FIVE = re.compile(r"(?:\bout\s+of|\bof|\bde|/)\s*5\b", re.IGNORECASE)


def payload(score: int) -> str:
    return '/csat_rating{"csat_score":"%d"}' % score


def question(language: Optional[str], channel: str, request_id: Optional[int] = None) -> Dict[str, Any]:
    """The bot event that asks: text and five buttons in the customer's language; `request_id`
    (the csat_requests row) is in its metadata, for the email channel's rating links."""
    lang = language if language in QUESTION else "en"
    text, titles = QUESTION[lang]
    if channel == "sms":
        text = SMS_QUESTION[lang]
    if channel in NUMBERED_CHANNELS:  # shown as "1. Very bad": the number is the option's
        titles = tuple(title.split(" - ", 1)[1] for title in titles)
    buttons = [{"title": title, "payload": payload(score)} for score, title in zip(SCORES, titles)]
    metadata: Dict[str, Any] = {"channel": channel, "language": lang, "utter_action": RESPONSE}
    if request_id is not None:
        metadata["csat_request_id"] = request_id
    return {"event": "bot", "text": text, "data": {"buttons": buttons}, "metadata": metadata}


def score_of(entity: Optional[Any], text: Optional[str]) -> Optional[int]:
    """The 1-5 of an answer: the payload's entity, else the one digit 1-5 a typed answer has."""
    for raw in (entity,):
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            continue
        if value in SCORES:
            return value
    digits = _DIGIT.findall(_OUT_OF_FIVE.sub(" ", text or ""))
    return int(digits[0]) if len(set(digits)) == 1 else None


def why_not_ask(session: Session, customer_id: str, now: datetime, opted_out: bool = False) -> Optional[str]:
    """None when the customer may be asked now; else why not."""
    if opted_out:
        return "opted_out"
    complaint = session.scalar(select(Case.id).where(
        Case.customer_id == customer_id, Case.topic == "complaint", Case.status == "open").limit(1))
    if complaint is not None:
        return "open_complaint"
    recent = session.scalar(select(CsatRequest.id).where(
        CsatRequest.customer_id == customer_id, CsatRequest.asked_at >= now - timedelta(days=QUIET_DAYS)).limit(1))
    if recent is not None:
        return "asked_recently"
    return None


def claim_question(session: Session, customer_id: str, channel: str, trigger: str, source_id: str,
                   now: datetime, opted_out: bool = False) -> Optional[str]:
    """Record that the question is being asked, if the rules allow; returns why not, or None."""
    customer_id = directory.canonical_customer(session, customer_id)
    if session.scalar(select(CsatRequest.id).where(CsatRequest.trigger == trigger,
                                                   CsatRequest.source_id == source_id)) is not None:
        return "already_asked"
    why = why_not_ask(session, customer_id, now, opted_out)
    if why:
        return why
    session.add(CsatRequest(customer_id=customer_id, channel=channel, trigger=trigger,
                            source_id=source_id, asked_at=now))
    session.flush()  # a concurrent ask of the same handoff fails here (unique), and is retried
    return None


def record_answer(session: Session, customer_id: str, score: int, now: Optional[datetime] = None) -> bool:
    """The score on the newest unanswered question of the last QUIET_DAYS; False if there is none."""
    if score not in SCORES:
        raise ValueError(f"a CSAT score is 1 to 5, not {score!r}")
    now = now or utcnow()
    customer_id = directory.canonical_customer(session, customer_id)
    pending = session.scalar(select(CsatRequest.id).where(
        CsatRequest.customer_id == customer_id, CsatRequest.answered_at.is_(None),
        CsatRequest.asked_at >= now - timedelta(days=QUIET_DAYS), CsatRequest.asked_at <= now)
        .order_by(CsatRequest.asked_at.desc()).limit(1))
    if pending is None:
        return False
    return bool(session.execute(
        update(CsatRequest).where(CsatRequest.id == pending, CsatRequest.answered_at.is_(None))
        .values(score=score, answered_at=now).execution_options(synchronize_session=False)).rowcount)


class RasaEvents(Protocol):
    async def append_events(self, customer_id: str, events: List[Dict[str, Any]],
                            output_channel: Optional[str] = None,
                            execute_side_effects: bool = False) -> Any: ...


OptedOut = Callable[[str, str], Awaitable[bool]]  # (channel, address) → opted out?


class AskCsat:
    """Ask a customer the CSAT question on `channel`, once, if the rules allow.

    Returns None when it was sent, else the reason it was not (for logs and tests)."""

    def __init__(self, db: Database, rasa: RasaEvents, opted_out: Optional[OptedOut] = None) -> None:
        self.db = db
        self.rasa = rasa
        self.opted_out = opted_out

    async def __call__(self, customer_id: str, channel: Optional[str], trigger: str, source_id: str,
                       now: Optional[datetime] = None) -> Optional[str]:
        if not channel:
            return "no_channel"
        now = now or utcnow()

        def addresses(session: Session) -> Tuple[str, List[str], Optional[str]]:
            canonical = directory.canonical_customer(session, customer_id)
            rows = session.scalars(select(ChannelIdentity.address).where(
                ChannelIdentity.customer_id == canonical, ChannelIdentity.channel == channel))
            customer = session.get(Customer, canonical)
            return canonical, list(rows), customer.language if customer else None

        canonical, found, language = await self.db.run(addresses)
        opted_out = False
        if self.opted_out is not None:
            for address in found:
                opted_out = opted_out or await self.opted_out(channel, address)
        def claim(session: Session) -> Tuple[Optional[str], Optional[int]]:
            why = claim_question(session, canonical, channel, trigger, source_id, now, opted_out)
            return why, None if why else session.scalar(select(CsatRequest.id).where(
                CsatRequest.trigger == trigger, CsatRequest.source_id == source_id))

        try:
            why, request_id = await self.db.run(claim)
        except IntegrityError:
            return "already_asked"
        if why:
            log.info("csat: not asking customer %s after %s %s: %s", canonical, trigger, source_id, why)
            return why
        await self.rasa.append_events(canonical, [question(language, channel, request_id)],
                                      output_channel=channel, execute_side_effects=True)
        log.info("csat: asked customer %s on %s after %s %s", canonical, channel, trigger, source_id)
        return None


def read_csat(session: Session, start: datetime, end: datetime) -> Tuple[CsatRow, ...]:
    """The questions asked in [start, end), for the metric."""
    return tuple(CsatRow(r.customer_id, r.channel, r.asked_at, r.score, r.answered_at)
                 for r in session.scalars(select(CsatRequest).where(
                     CsatRequest.asked_at >= start, CsatRequest.asked_at < end).order_by(CsatRequest.asked_at)))


def csat_metric(rows: Iterable[CsatRow], start: datetime, end: datetime, channel: Optional[str]) -> Metric:
    """Score = (4s + 5s) / responses, over the questions asked in [start, end) on `channel`;
    details: responses, questions asked, response rate, the count of each score."""
    asked = [r for r in rows if start <= r.asked_at < end and (channel is None or r.channel == channel)]
    answered = [r for r in asked if r.score is not None]
    satisfied = sum(1 for r in answered if r.score >= 4)
    details = {"available": True, "asked": len(asked), "responses": len(answered),
               "response_rate": (len(answered) / len(asked)) if asked else None,
               "scores": {str(s): sum(1 for r in answered if r.score == s) for s in SCORES}}
    return Metric("csat", "ratio", (satisfied / len(answered)) if answered else None, satisfied, len(answered),
                  details, tuple(Row(r.customer_id, None, {"channel": r.channel, "score": r.score})
                                 for r in answered))
