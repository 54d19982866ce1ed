"""Customers: search (name, phone, email, order number) and one customer's page, for any
customer, handed over or not: the cross-channel timeline, identities, open items, their
handoffs and the metric flags of the last 30 days (docs/insights.md).

Who may read it: like the handoff conversation page, every active agent who is logged in (the
console has no per-agent visibility); the drill-down lists and exports carry no message body.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, List, Optional

from aiohttp import web
from sqlalchemy import func, or_, select

from threadline.console import reads
from threadline.console.i18n import translator
from threadline.console.insights import REPORTS, TITLES, Choice, _today
from threadline.console.rendering import language_of, render
from threadline.console.state import console_of
from threadline.crm import Database
from threadline.crm.models import ChannelIdentity, Customer, Handoff, Interaction, Order
from threadline.handoff.languages import marked
from threadline.identity import directory
from threadline.identity.lookup import describe
from threadline.insights import Period
from threadline.insights.business_hours import BusinessHours

FOUND_LIMIT = 50
FLAG_DAYS = 30
# The metrics whose rows are a problem (or a recovery) worth flagging on a customer's page.
FLAGS = ("no_follow_up", "stalled_leads", "recovered_opportunities", "repeated_information",
         "handoffs_with_complete_context", "abandonment_reasons", "bot_failures")
INCOMPLETE_CONTEXT = marked("Handoffs with incomplete context")


@dataclass(frozen=True)
class Found:
    customer_id: str
    name: Optional[str]
    addresses: List[str]
    last_at: Optional[datetime]


def search(session, text: str) -> List[Found]:
    text = text.strip()
    if not text:
        return []
    like = f"%{text.lower()}%"
    ids = set(session.scalars(select(Customer.id).where(
        func.lower(Customer.display_name).like(like), Customer.merged_into.is_(None)).limit(FOUND_LIMIT)))
    ids |= set(session.scalars(select(ChannelIdentity.customer_id).where(
        func.lower(ChannelIdentity.address).like(like)).limit(FOUND_LIMIT)))
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 6:  # a phone typed with spaces, dashes or +
        ids |= set(session.scalars(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.key.like(f"%{digits}%")).limit(FOUND_LIMIT)))
    ids |= {c for c in session.scalars(select(Order.customer_id).where(
        func.upper(Order.id) == text.upper())) if c}
    ids |= set(session.scalars(select(Customer.id).where(Customer.id == text)))
    found = sorted({directory.canonical_customer(session, i) for i in ids})[:FOUND_LIMIT]
    if not found:
        return []
    names = dict(session.execute(select(Customer.id, Customer.display_name).where(Customer.id.in_(found))).all())
    addresses: Dict[str, List[str]] = {}
    for row in session.scalars(select(ChannelIdentity).where(ChannelIdentity.customer_id.in_(found))):
        addresses.setdefault(row.customer_id, []).append(row.address)
    last = dict(session.execute(select(Interaction.customer_id, func.max(Interaction.occurred_at))
                                .where(Interaction.customer_id.in_(found)).group_by(Interaction.customer_id)).all())
    rows = [Found(i, names.get(i), sorted(addresses.get(i, [])), last.get(i)) for i in found]
    return sorted(rows, key=lambda f: f.last_at or datetime.min, reverse=True)


async def customers_page(request: web.Request) -> web.Response:
    text = request.query.get("q", "")[:200]
    found = await console_of(request).db.run(lambda s: search(s, text)) if text.strip() else []
    return render(request, "customers.html", {"q": text, "found": found, "limit": FOUND_LIMIT})


@dataclass(frozen=True)
class CustomerPage:
    profile: dict
    timeline: list
    handoffs: list


def _customer(session, customer_id: str) -> Optional[CustomerPage]:
    if session.get(Customer, customer_id) is None:
        return None
    customer_id = directory.canonical_customer(session, customer_id)
    handoffs = session.scalars(select(Handoff).where(Handoff.customer_id == customer_id)
                               .order_by(Handoff.created_at.desc())).all()
    return CustomerPage(describe(session, customer_id), reads._entries(session, customer_id),
                        [{"id": h.id, "reason": h.reason, "status": h.status, "channel": h.channel,
                          "at": h.created_at} for h in handoffs])


def flags(db: Database, customer_id: str, hours: BusinessHours) -> List[dict]:
    """The metric rows naming this customer in the last FLAG_DAYS days (a report of that range)."""
    today = _today(hours)
    period = Period.of(today - timedelta(days=FLAG_DAYS - 1), today, hours)
    report = REPORTS.get(db, period, None)
    found = []
    for name in FLAGS:
        rows = [r for r in report.metrics[name].rows if r.customer_id == customer_id]
        title = TITLES[name][0]
        if name == "handoffs_with_complete_context":
            rows, title = [r for r in rows if not r.detail.get("complete")], INCOMPLETE_CONTEXT
        if rows:
            found.append({"name": name, "title": title, "count": len(rows)})
    choice = Choice(period.first.isoformat(), period.last.isoformat(), "", period)
    return [{**f, "query": choice.query()} for f in found]


async def customer_page(request: web.Request) -> web.Response:
    db = console_of(request).db
    translate = translator(language_of(request)).gettext
    page = await db.run(lambda s: _customer(s, request.match_info["customer_id"]))
    if page is None:
        raise web.HTTPNotFound(text=translate(marked("no such customer")))
    try:
        hours = BusinessHours.from_env()
        found = await asyncio.to_thread(flags, db, page.profile["customer_id"], hours)
    except ValueError as error:  # BUSINESS_HOURS unreadable: the page still opens
        found, flag_error = [], str(error)
    else:
        flag_error = ""
    flagged = [{**f, "title": translate(f["title"])} for f in found]
    resolved = request.query.get("resolved", "")
    return render(request, "customer.html", {"c": page, "flags": flagged, "flag_error": flag_error,
                                             "flag_days": FLAG_DAYS, "resolved": resolved if resolved.isdigit() else ""})
