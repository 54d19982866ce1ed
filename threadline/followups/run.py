"""One pass of the follow-up schedule (issue #18): settle promises, record outcomes, find what is
due at the clock's `now`, and for each item do what its rule says: an alert for people, a
message to the customer, or both. `dry_run` decides the same way and records and sends nothing.

A message goes like the bot's own (threadline/insights/csat.py's AskCsat): a `bot` event through
Rasa's HTTP API with `output_channel` = the channel the customer last used, so the connector,
its windows, its opt-out checks and the CRM timeline treat it as any bot message. Rasa refusing
it, or not answering, is recorded as `refused` with the reason and never retried: the next pass
finds the row and leaves it. So is the channel holding it or the provider refusing it: the event
carries `delivery_ref` = `followup:<row id>:<key digest>`, the connector records why under that reference,
and `refusal` (ChannelRecords.refusal) reads it back, at once after sending and, for a failed
receipt that comes later, at each pass for LATE_REFUSAL after it was sent.
"""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Collection, Dict, List, Mapping, Optional, Set, Tuple
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import ChannelIdentity, Customer, Interaction
from threadline.crm.models.followups import FollowUp
from threadline.followups.clock import Clock
from threadline.followups.finders import find_due
from threadline.followups.guards import QUIET, why_not_message
from threadline.followups.items import DueItem
from threadline.followups.messages import MissingContext, bot_event, load_responses, whatsapp_window_open
from threadline.followups.records import (
    ALREADY, Claim, SettlePromises, claim, finish, record_outcomes, refuse_sent, sent_since)
from threadline.followups.rules import Rule, Rules
from threadline.handoff.rasa_api import RasaApiError
from threadline.insights.csat import OptedOut, RasaEvents

log = logging.getLogger("threadline.followups")

Alert = Callable[[DueItem, Rule, int], Awaitable[None]]  # (item, rule, follow-up id): tell people
Refusal = Callable[[str], Awaitable[Optional[str]]]  # delivery reference -> why it did not reach the customer
# How long after sending a provider's failed receipt is still copied to the follow-up (receipts
# come within minutes; WhatsApp retries for up to a day).
LATE_REFUSAL = timedelta(days=2)


def delivery_ref(followup_id: int, key: str) -> str:
    """The follow-up's reference in the channels' delivery records: its id, and a digest of its
    key so that a row id reused by another database (a CRM reset) never reads an old refusal."""
    return f"followup:{followup_id}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Decision:
    """What a pass did (or, dry, would do) with one item's action."""

    kind: str
    action: str
    customer_id: str
    subject: str
    channel: Optional[str]
    outcome: str  # sent | alerted | would_send | would_alert | skipped:<why> | refused:<why> | later:<why>
    detail: str = ""  # the message text or template name (dry run only: never logged)


@dataclass
class Report:
    decisions: List[Decision] = field(default_factory=list)
    settled: Dict[str, int] = field(default_factory=dict)

    def counts(self) -> Dict[str, int]:
        return dict(sorted(Counter(f"{d.kind} {d.action}: {d.outcome}" for d in self.decisions
                                   if d.outcome != ALREADY).items()))


@dataclass(frozen=True)
class _Reach:
    language: Optional[str]
    addresses: Tuple[str, ...]
    last_inbound: Optional[datetime]  # the customer's last message on the item's channel


class RunFollowUps:
    def __init__(self, db: Database, rasa: Optional[RasaEvents], rules: Rules, clock: Clock, zone: ZoneInfo, *,
                 opted_out: Optional[OptedOut] = None, alert: Optional[Alert] = None, dry_run: bool = False,
                 responses: Optional[Mapping[str, List[Dict[str, Any]]]] = None,
                 refusal: Optional[Refusal] = None) -> None:
        self.db = db
        self.rasa = rasa
        self.rules = rules
        self.clock = clock
        self.zone = zone
        self.opted_out = opted_out
        self.alert = alert
        self.dry_run = dry_run
        self.refusal = refusal
        self.responses = responses if responses is not None else load_responses()
        self._dry_sent: Set[str] = set()  # customers the dry run would write to in this pass

    def today(self, now: datetime) -> date:
        return now.replace(tzinfo=timezone.utc).astimezone(self.zone).date()

    async def __call__(self, customers: Optional[Collection[str]] = None) -> Report:
        """One pass over everyone, or over `customers` only (a pass after an event of theirs)."""
        now = self.clock.now()
        report = Report()
        if not self.dry_run:
            report.settled = await SettlePromises(self.db)(self.today(now), customers)
            await self._late_refusals(now, customers)
            await self.db.run(lambda s: record_outcomes(s, now, customers), retry_conflicts=True)
        items = await self.db.run(lambda s: find_due(s, now, self.today(now), self.rules, customers))
        self._dry_sent.clear()
        for item in items:
            rule = self.rules.kinds[item.kind]
            if rule.alert:
                report.decisions.append(await self._alert(item, rule, now))
            if rule.message:
                report.decisions.append(await self._message(item, rule, now))
        if not self.dry_run:
            done = [d for d in report.decisions if d.outcome != ALREADY]
            if done:
                log.info("followups: %s", ", ".join(f"{k} = {v}" for k, v in report.counts().items()))
        return report

    async def _refusal_of(self, followup_id: int, key: str) -> Optional[str]:
        if self.refusal is None:
            return None
        try:
            return await self.refusal(delivery_ref(followup_id, key))
        except RedisError as error:  # cannot tell now: the next pass asks again (_late_refusals)
            log.warning("followups: delivery record of follow-up %d unreadable (%s)", followup_id,
                        type(error).__name__)
            return None

    async def _late_refusals(self, now: datetime, customers: Optional[Collection[str]]) -> None:
        """Messages sent lately whose delivery failed after the provider accepted them: refused."""
        if self.refusal is None:
            return
        for followup_id, key in await self.db.run(lambda s: sent_since(s, now - LATE_REFUSAL, customers)):
            reason = await self._refusal_of(followup_id, key)
            if reason:
                await self.db.run(lambda s: refuse_sent(s, followup_id, reason, now))

    def _decision(self, item: DueItem, action: str, outcome: str, detail: str = "") -> Decision:
        return Decision(item.kind, action, item.customer_id, item.subject, item.channel, outcome, detail)

    async def _claim(self, item: DueItem, action: str, now: datetime, **kwargs: Any) -> Claim:
        try:
            return await self.db.run(lambda s: claim(s, item, action, now, self.rules, self.zone, **kwargs),
                                     retry_conflicts=True)
        except IntegrityError:  # every retry lost to another worker: it is theirs
            return Claim(None, ALREADY)

    async def _alert(self, item: DueItem, rule: Rule, now: datetime) -> Decision:
        if self.dry_run:
            taken = await self.db.run(lambda s: _taken(s, item.key("alert")))
            return self._decision(item, "alert", ALREADY if taken else "would_alert")
        claimed = await self._claim(item, "alert", now)
        if claimed.id is None:
            return self._decision(item, "alert", claimed.reason or ALREADY)
        if self.alert is not None:
            await self.alert(item, rule, claimed.id)
        await self.db.run(lambda s: finish(s, claimed.id, "alerted", now))
        return self._decision(item, "alert", "alerted")

    async def _reach(self, item: DueItem) -> _Reach:
        def read(session: Session) -> _Reach:
            customer = session.get(Customer, item.customer_id)
            addresses = tuple(session.scalars(select(ChannelIdentity.address).where(
                ChannelIdentity.customer_id == item.customer_id, ChannelIdentity.channel == item.channel)))
            last = session.scalar(select(func.max(Interaction.occurred_at)).where(
                Interaction.customer_id == item.customer_id, Interaction.author == "customer",
                Interaction.channel == item.channel))
            return _Reach(customer.language if customer else None, addresses, last)
        return await self.db.run(read)

    async def _message(self, item: DueItem, rule: Rule, now: datetime) -> Decision:
        reach = await self._reach(item)
        opted_out = False
        if self.opted_out is not None and item.channel:
            try:
                for address in reach.addresses:
                    opted_out = opted_out or await self.opted_out(item.channel, address)
            except RedisError as error:  # cannot tell: write nothing now, the next pass asks again
                log.warning("followups: opt-out check failed for customer %s (%s)", item.customer_id,
                            type(error).__name__)
                return self._decision(item, "message", "later:opt_out_unknown")
        event, cannot = None, None
        if item.channel:
            window_open = whatsapp_window_open(reach.last_inbound, now)
            try:
                if item.channel == "whatsapp" and not window_open:
                    if rule.whatsapp_template is None:
                        cannot = "whatsapp_window_closed_no_template"
                    else:
                        event = bot_event(rule, self.responses, item.channel, reach.language, item.context, True)
                elif item.channel == "instagram" and not window_open:
                    cannot = "instagram_window_closed"  # HUMAN_AGENT is for a person's message only
                else:
                    event = bot_event(rule, self.responses, item.channel, reach.language, item.context)
            except MissingContext:
                cannot = "missing_context"
        if self.dry_run:
            def decide(session: Session) -> Optional[str]:
                if _taken(session, item.key("message")):
                    return ALREADY
                return why_not_message(session, item, now, self.rules, self.zone, opted_out) or cannot
            why = await self.db.run(decide)
            if why == ALREADY:
                return self._decision(item, "message", ALREADY)
            if not why and item.customer_id in self._dry_sent:
                why = "messaged_recently"  # the real pass records the first one, and its guard sees it
            if why:
                return self._decision(item, "message", f"{'later' if why == QUIET else 'skipped'}:{why}")
            self._dry_sent.add(item.customer_id)
            return self._decision(item, "message", "would_send", _describe(event))
        claimed = await self._claim(item, "message", now, opted_out=opted_out, response=rule.response, cannot=cannot)
        if claimed.id is None:
            reason = claimed.reason or ALREADY
            prefix = "" if reason == ALREADY else "later:" if reason == QUIET else "skipped:"
            return self._decision(item, "message", f"{prefix}{reason}")
        assert event is not None and self.rasa is not None
        event = {**event, "metadata": {**event["metadata"], "delivery_ref": delivery_ref(claimed.id, item.key("message"))}}
        try:
            await self.rasa.append_events(item.customer_id, [event], output_channel=item.channel,
                                          execute_side_effects=True)
        except RasaApiError as error:
            reason = "rasa_unreachable" if "unreachable" in str(error) else "rasa_refused"
            await self.db.run(lambda s: finish(s, claimed.id, "refused", now, reason))
            log.warning("followups: %s %s for customer %s refused: %s", item.kind, item.subject, item.customer_id,
                        reason)
            return self._decision(item, "message", f"refused:{reason}")
        refused = await self._refusal_of(claimed.id, item.key("message"))  # Rasa answers once the channel has tried
        if refused:
            await self.db.run(lambda s: finish(s, claimed.id, "refused", now, refused))
            log.warning("followups: %s %s for customer %s not delivered: %s", item.kind, item.subject,
                        item.customer_id, refused)
            return self._decision(item, "message", f"refused:{refused}")
        await self.db.run(lambda s: finish(s, claimed.id, "sent", now))
        log.info("followups: sent %s about %s to customer %s on %s", item.kind, item.subject, item.customer_id,
                 item.channel)
        return self._decision(item, "message", "sent")


def _taken(session: Session, key: str) -> bool:
    return session.scalar(select(FollowUp.id).where(FollowUp.key == key)) is not None


def _describe(event: Optional[Dict[str, Any]]) -> str:
    if event is None:
        return ""
    custom = (event.get("data") or {}).get("custom")
    if custom:
        return f"template {custom['template']['name']} {[p['text'] for p in custom['template']['components'][0]['parameters']]}"
    return event["text"]
