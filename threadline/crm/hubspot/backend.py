"""The `Crm` protocol on HubSpot: contacts, notes (interactions), deals (opportunities),
tickets (cases) and tasks (promises), all associated with the customer's contact.

Idempotent by external ids: contacts carry `threadline_customer_id`; notes, deals, tickets
and tasks carry `threadline_key` (customer + idempotency key / product / topic and order), and
every create is preceded by a search on that key, so a retried write finds the first one.
The custom properties must exist in the HubSpot account (docs/crm.md lists them).
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Dict, List, Optional, Sequence

from threadline.crm.hubspot.api import HubSpotApi
from threadline.crm.interface import (
    CaseView, CrmUnavailable, InteractionRecord, OpportunityView, Profile, PromiseView,
)
from threadline.crm.models.sales import STAGES
from threadline.crm.sql_backend import SqlCrm

# HubSpot-defined association type ids (object → contact).
NOTE_TO_CONTACT, DEAL_TO_CONTACT, TICKET_TO_CONTACT, TASK_TO_CONTACT = 202, 3, 16, 204
# Our stages on HubSpot's default sales pipeline, and back.
DEAL_STAGES = {"new": "appointmentscheduled", "qualified": "qualifiedtobuy", "proposal": "contractsent",
               "won": "closedwon", "lost": "closedlost"}
OUR_STAGES = {value: key for key, value in DEAL_STAGES.items()}
TICKET_PIPELINE, TICKET_NEW, TICKET_CLOSED = "0", "1", "4"
DEAL_PROPERTIES = ["dealname", "dealstage", "amount", "threadline_key", "threadline_product",
                   "threadline_plan", "threadline_quantity", "threadline_next_step", "threadline_channel",
                   "hs_lastmodifieddate"]
TICKET_PROPERTIES = ["subject", "hs_pipeline_stage", "threadline_key", "threadline_topic",
                     "threadline_order_id", "threadline_channel", "createdate"]
TASK_PROPERTIES = ["hs_task_subject", "hs_timestamp", "hs_task_status", "threadline_key", "threadline_case_id"]


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(stamp: Optional[str]) -> datetime:
    if not stamp:
        return datetime(1970, 1, 1)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


def _eq(name: str, value: str) -> dict:
    return {"propertyName": name, "operator": "EQ", "value": value}


def _deal_view(deal: dict) -> OpportunityView:
    p = deal["properties"]
    return OpportunityView(
        deal["id"], p.get("threadline_product") or None, p.get("threadline_plan") or None,
        int(p["threadline_quantity"]) if p.get("threadline_quantity") else None,
        OUR_STAGES.get(p.get("dealstage") or "", "new"),
        Decimal(p["amount"]) if p.get("amount") else None, p.get("threadline_next_step") or None,
        p.get("threadline_channel") or None, _parse(p.get("hs_lastmodifieddate")))


def _case_view(ticket: dict) -> CaseView:
    p = ticket["properties"]
    status = "resolved" if p.get("hs_pipeline_stage") == TICKET_CLOSED else "open"
    return CaseView(ticket["id"], p.get("threadline_topic") or "", p.get("threadline_order_id") or None,
                    status, p.get("threadline_channel") or None, _parse(p.get("createdate")))


class HubSpotCrm:
    def __init__(self, api: HubSpotApi, handoffs: Optional[SqlCrm] = None) -> None:
        self.api = api
        self.handoffs = handoffs  # handoffs live in the embedded database, not in HubSpot
        self._contacts: Dict[str, str] = {}

    async def _contact(self, customer_id: str) -> str:
        """The contact id for a customer: searched first, created only if absent."""
        if customer_id not in self._contacts:
            found = await self.api.search("contacts", [_eq("threadline_customer_id", customer_id)],
                                          ["threadline_customer_id"], limit=1)
            contact = found[0] if found else await self.api.create(
                "contacts", {"threadline_customer_id": customer_id})
            self._contacts[customer_id] = contact["id"]
        return self._contacts[customer_id]

    async def _find(self, object_type: str, key: str, properties: List[str]) -> Optional[dict]:
        found = await self.api.search(object_type, [_eq("threadline_key", key)], properties, limit=1)
        return found[0] if found else None

    async def _of_contact(self, object_type: str, contact: str, properties: List[str]) -> List[dict]:
        return await self.api.search(object_type, [_eq("associations.contact", contact)], properties)

    async def record_interactions(self, records: Sequence[InteractionRecord]) -> int:
        written = 0
        for record in records:
            if await self._find("notes", record.idempotency_key, ["threadline_key"]):
                continue
            contact = await self._contact(record.customer_id)
            intent = f" (intent {record.intent}, {record.confidence:.2f})" if record.intent else ""
            await self.api.create("notes", {
                "hs_timestamp": _iso(record.occurred_at),
                "hs_note_body": f"[{record.channel or 'unknown'}] {record.author}: {record.text or ''}{intent}",
                "threadline_key": record.idempotency_key,
            }, contact, NOTE_TO_CONTACT)
            written += 1
        return written

    async def set_delivery_status(self, provider_message_id: str, status: str) -> bool:
        return False  # notes carry no delivery state; the SQL backend keeps it

    async def timeline(self, customer_id: str, limit: int = 100) -> List[InteractionRecord]:
        contact = await self._contact(customer_id)
        notes = await self._of_contact("notes", contact, ["hs_timestamp", "hs_note_body", "threadline_key"])
        records = []
        for note in notes:
            p = note["properties"]
            channel, _, rest = (p.get("hs_note_body") or "").partition("] ")
            author, _, text = rest.partition(": ")
            records.append(InteractionRecord(customer_id, author, channel.lstrip("["), text,
                                             _parse(p.get("hs_timestamp")), p.get("threadline_key") or note["id"]))
        return sorted(records, key=lambda r: r.occurred_at)[:limit]

    async def touch_opportunity(self, customer_id: str, *, product: Optional[str] = None,
                                plan: Optional[str] = None, stage: str = "new", quantity: Optional[int] = None,
                                value: Optional[Decimal] = None, next_step: Optional[str] = None,
                                channel: Optional[str] = None) -> OpportunityView:
        if stage not in STAGES or not (product or plan):
            raise ValueError("an opportunity needs a known stage and a product or a plan")
        key = f"{customer_id}:{(product or plan).lower()}"
        deal = await self._find("deals", key, DEAL_PROPERTIES)
        changes = {name: str(v) for name, v in {
            "threadline_quantity": quantity, "amount": value, "threadline_next_step": next_step,
            "threadline_channel": channel}.items() if v is not None}
        if deal is None or OUR_STAGES.get(deal["properties"].get("dealstage")) in ("won", "lost"):
            contact = await self._contact(customer_id)
            deal = await self.api.create("deals", {
                "dealname": f"{product or plan} ({customer_id})", "pipeline": "default",
                "dealstage": DEAL_STAGES[stage], "threadline_key": key,
                "threadline_product": product or "", "threadline_plan": plan or "", **changes,
            }, contact, DEAL_TO_CONTACT)
        else:
            current = OUR_STAGES.get(deal["properties"].get("dealstage"), "new")
            if STAGES.index(stage) > STAGES.index(current):
                changes["dealstage"] = DEAL_STAGES[stage]
            if changes:
                deal = await self.api.update("deals", deal["id"], changes)
        return _deal_view(deal)

    async def open_case(self, customer_id: str, topic: str, order_id: Optional[str],
                        channel: Optional[str]) -> tuple[CaseView, bool]:
        key = f"{customer_id}:{topic}:{order_id or '-'}"
        ticket = await self._find("tickets", key, TICKET_PROPERTIES)
        if ticket is not None and ticket["properties"].get("hs_pipeline_stage") != TICKET_CLOSED:
            return _case_view(ticket), False
        contact = await self._contact(customer_id)
        ticket = await self.api.create("tickets", {
            "subject": f"{topic.replace('_', ' ')}: order {order_id}" if order_id else topic.replace("_", " "),
            "hs_pipeline": TICKET_PIPELINE, "hs_pipeline_stage": TICKET_NEW, "threadline_key": key,
            "threadline_topic": topic, "threadline_order_id": order_id or "", "threadline_channel": channel or "",
        }, contact, TICKET_TO_CONTACT)
        return _case_view(ticket), True

    async def make_promise(self, customer_id: str, text: str, due_date: date,
                           case_id: Optional[str] = None) -> PromiseView:
        key = f"{customer_id}:{case_id or '-'}:{due_date.isoformat()}:{text}"
        task = await self._find("tasks", key, TASK_PROPERTIES)
        if task is None:
            task = await self.api.create("tasks", {
                "hs_task_subject": text, "hs_timestamp": _iso(datetime.combine(due_date, time(12))),
                "hs_task_status": "NOT_STARTED", "threadline_key": key, "threadline_case_id": case_id or "",
            }, await self._contact(customer_id), TASK_TO_CONTACT)
        return PromiseView(task["id"], text, due_date, "open", case_id)

    async def profile(self, customer_id: str) -> Profile:
        contact = await self._contact(customer_id)
        deals = await self._of_contact("deals", contact, DEAL_PROPERTIES)
        tickets = await self._of_contact("tickets", contact, TICKET_PROPERTIES)
        tasks = await self._of_contact("tasks", contact, TASK_PROPERTIES)
        opportunities = sorted((v for v in map(_deal_view, deals) if v.stage not in ("won", "lost")),
                               key=lambda o: o.last_touch_at, reverse=True)
        cases = sorted((c for c in map(_case_view, tickets) if c.status == "open"),
                       key=lambda c: c.created_at, reverse=True)
        promises = sorted((PromiseView(t["id"], t["properties"].get("hs_task_subject", ""),
                                       _parse(t["properties"].get("hs_timestamp")).date(), "open",
                                       t["properties"].get("threadline_case_id") or None)
                           for t in tasks if t["properties"].get("hs_task_status") != "COMPLETED"),
                          key=lambda p: p.due_date)
        [person] = await self.api.search("contacts", [_eq("threadline_customer_id", customer_id)],
                                         ["threadline_language"], limit=1)
        language = person["properties"].get("threadline_language") or None
        return Profile(customer_id, None, None, None, opportunities, cases, promises, None, language)

    async def set_customer_language(self, customer_id: str, language: str) -> None:
        await self.api.update("contacts", await self._contact(customer_id), {"threadline_language": language})

    async def has_open_handoff(self, customer_id: str) -> bool:
        return bool(self.handoffs and await self.handoffs.has_open_handoff(customer_id))

    async def stop_proactive_messages(self, customer_id: str) -> bool:
        return await self._opt_outs().stop_proactive_messages(customer_id)

    async def allow_proactive_messages(self, customer_id: str) -> bool:
        return await self._opt_outs().allow_proactive_messages(customer_id)

    def _opt_outs(self) -> SqlCrm:
        """Opt-outs live in the embedded database, beside handoffs, where follow-ups read them."""
        if self.handoffs is None:
            raise CrmUnavailable("opt-outs need the embedded CRM database")
        return self.handoffs

    async def close(self) -> None:
        await self.api.close()
