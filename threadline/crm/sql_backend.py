"""The embedded CRM backend: the `Crm` and `OrderBook` protocols over the SQL database."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Callable, Dict, List, Optional, Sequence, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from threadline.conversation import failpoints
from threadline.crm.aggregates import Written, record_messages
from threadline.crm.db import Database
from threadline.crm.interface import (
    CaseView, CrmUnavailable, InteractionRecord, OpportunityView, OrderInfo, ProductInfo,
    Profile, PromiseView,
)
from threadline.crm.models import (
    Case, ChannelIdentity, Customer, Handoff, Interaction, Opportunity, OpportunityStageChange, Order,
    Product, Promise,
)
from threadline.crm.models.handoffs import OPEN_STATUSES
from threadline.crm.opt_outs import ANY_CHANNEL, clear_any_channel_opt_out, record_opt_out
from threadline.crm.models.base import utcnow
from threadline.crm.models.sales import OPEN_STAGES, STAGES

T = TypeVar("T")
MERGE_CHAIN_LIMIT = 32  # a customer merged into one merged into another…: never a loop
# Fewer typed digits than this match no order: "12" would end half the order book.
MIN_MATCHING_DIGITS = 4


def is_transient(error: BaseException) -> bool:
    """The database is away or busy (retry later), as opposed to refusing this data."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, OSError)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def ensure_customer(session: Session, customer_id: str) -> None:
    """Senders the identity resolver did not create (REST tests, imports) still get a row."""
    if session.get(Customer, customer_id) is None:
        session.add(Customer(id=customer_id))
        session.flush()


def current_owner(session: Session, customer_id: str) -> str:
    """The customer who owns `customer_id`'s rows now: itself, or the survivor of its merge."""
    for _ in range(MERGE_CHAIN_LIMIT):
        merged_into = session.scalar(select(Customer.merged_into).where(Customer.id == customer_id))
        if not merged_into:
            return customer_id
        customer_id = merged_into
    return customer_id


def rehome_if_merged_meanwhile(session: Session, owners: Dict[str, str]) -> None:
    """Rows just written for a customer a merge folded away meanwhile go to the survivor.

    The owner was read before the rows were written; a merge committed in between moved the
    customer's older rows but not these. Read again under the customer row's lock (the merge
    takes it first, see threadline.identity.merge): on SQLite the flush already holds the
    database's write lock, on PostgreSQL `FOR UPDATE` waits for a merge in progress."""
    for customer_id, owner in owners.items():
        session.scalar(select(Customer.id).where(Customer.id == customer_id).with_for_update())
        now = current_owner(session, customer_id)
        if now != owner:  # a merged customer owns no rows: all of them are the ones just written
            session.execute(update(Interaction).where(Interaction.customer_id == owner).values(customer_id=now))


def _opportunity_view(row: Opportunity) -> OpportunityView:
    return OpportunityView(str(row.id), row.product, row.plan, row.quantity, row.stage, row.value,
                           row.next_step, row.channel, row.last_touch_at)


def _case_view(row: Case) -> CaseView:
    return CaseView(str(row.id), row.topic, row.order_id, row.status, row.channel, row.created_at)


def _promise_view(row: Promise) -> PromiseView:
    return PromiseView(str(row.id), row.text, row.due_date, row.status,
                       str(row.case_id) if row.case_id else None)


def _record(row: Interaction) -> InteractionRecord:
    return InteractionRecord(
        row.customer_id, row.author, row.channel, row.text, row.occurred_at, row.idempotency_key,
        row.intent, row.confidence, json.loads(row.entities or "[]"), row.delivery_status,
        row.provider_message_id, response=row.response,
    )


class SqlStore:
    """Shared by both protocols: run work in a thread, turn database errors into CrmUnavailable."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _run(self, work: Callable[[Session], T], *, refusals_as_is: bool = False) -> T:
        """With `refusals_as_is`, an error the data causes (a constraint, a value the column
        refuses) is raised as it is, and only unavailability becomes CrmUnavailable: the timeline
        worker retries an outage and dead-letters a refusal."""
        try:
            return await self.database.run(work, retry_conflicts=True)
        except (DBAPIError, OSError, PoolTimeout) as error:
            if refusals_as_is and not is_transient(error):
                raise
            raise CrmUnavailable(f"CRM database: {error.__class__.__name__}") from error

    async def close(self) -> None:
        self.database.dispose()


class SqlCrm(SqlStore):
    async def profile(self, customer_id: str) -> Profile:
        def work(session: Session) -> Profile:
            customer = session.get(Customer, customer_id)
            keys = session.scalars(select(ChannelIdentity.key).where(
                ChannelIdentity.customer_id == customer_id)).all()
            email = next((k.split(":", 1)[1] for k in keys if k.startswith("email:")), None)
            phone = next((k.split(":", 1)[1] for k in keys if k.startswith("phone:")), None)
            opportunities = session.scalars(select(Opportunity).where(
                Opportunity.customer_id == customer_id, Opportunity.stage.in_(OPEN_STAGES),
            ).order_by(Opportunity.last_touch_at.desc(), Opportunity.id.desc())).all()
            cases = session.scalars(select(Case).where(
                Case.customer_id == customer_id, Case.status == "open",
            ).order_by(Case.created_at.desc(), Case.id.desc())).all()
            promises = session.scalars(select(Promise).where(
                Promise.customer_id == customer_id, Promise.status == "open",
            ).order_by(Promise.due_date, Promise.id)).all()
            last_channel = session.scalar(select(Interaction.channel).where(
                Interaction.customer_id == customer_id, Interaction.author == "customer",
            ).order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(1))
            return Profile(
                customer_id, customer.display_name if customer else None, email, phone,
                [_opportunity_view(o) for o in opportunities], [_case_view(c) for c in cases],
                [_promise_view(p) for p in promises], last_channel,
                customer.language if customer else None,
            )

        return await self._run(work)

    async def record_interactions(self, records: Sequence[InteractionRecord]) -> int:
        """Write the records whose key is not stored yet. A key another writer stored meanwhile
        makes the transaction run again (Database.transaction), which then finds it: a duplicate
        key is "already written". A record of a merged customer goes to the survivor, where the
        merge moved that customer's rows (an unlink moves it back by its key)."""
        def work(session: Session) -> int:
            keys = [key for r in records for key in (r.idempotency_key, *r.earlier_keys)]
            known = set(session.scalars(select(Interaction.idempotency_key).where(
                Interaction.idempotency_key.in_(keys))).all()) if keys else set()
            new = 0
            added: List[Interaction] = []
            written: List[InteractionRecord] = []
            owners: dict = {}  # a batch is mostly one customer's: look its owner up once
            for record in records:
                if record.idempotency_key in known or known.intersection(record.earlier_keys):
                    continue
                known.add(record.idempotency_key)
                written.append(record)
                if record.customer_id not in owners:
                    ensure_customer(session, record.customer_id)
                    owners[record.customer_id] = current_owner(session, record.customer_id)
                added.append(Interaction(
                    customer_id=owners[record.customer_id], author=record.author,
                    channel=record.channel, text=record.text, intent=record.intent,
                    confidence=record.confidence, entities=json.dumps(list(record.entities)),
                    response=record.response,
                    occurred_at=record.occurred_at, delivery_status=record.delivery_status,
                    provider_message_id=record.provider_message_id,
                    idempotency_key=record.idempotency_key,
                ))
                session.add(added[-1])
                new += 1
            if new:
                session.flush()  # the rows are written; the commit follows `work`
                rehome_if_merged_meanwhile(session, owners)
                final = {c: current_owner(session, c) for c in owners}  # after a merge meanwhile
                record_messages(session, [Written(row.id, final.get(record.customer_id, row.customer_id),
                                                  row.author, row.channel, row.occurred_at)
                                          for row, record in zip(added, written)])
                failpoints.reach(failpoints.BEFORE_TIMELINE_COMMIT)
            return new

        return await self._run(work, refusals_as_is=True)

    async def set_delivery_status(self, provider_message_id: str, status: str) -> bool:
        def work(session: Session) -> bool:
            rows = session.scalars(select(Interaction).where(
                Interaction.provider_message_id == provider_message_id)).all()
            for row in rows:
                row.delivery_status = status
            return bool(rows)

        return await self._run(work)

    async def timeline(self, customer_id: str, limit: int = 100) -> List[InteractionRecord]:
        def work(session: Session) -> List[InteractionRecord]:
            rows = session.scalars(select(Interaction).where(
                Interaction.customer_id == customer_id,
            ).order_by(Interaction.occurred_at, Interaction.id).limit(limit)).all()
            return [_record(r) for r in rows]

        return await self._run(work)

    async def touch_opportunity(
        self, customer_id: str, *, product: Optional[str] = None, plan: Optional[str] = None,
        stage: str = "new", quantity: Optional[int] = None, value: Optional[Decimal] = None,
        next_step: Optional[str] = None, channel: Optional[str] = None,
    ) -> OpportunityView:
        if stage not in STAGES:
            raise ValueError(f"unknown opportunity stage {stage!r}")
        if not (product or plan):
            raise ValueError("an opportunity is about a product or a plan")

        def work(session: Session) -> OpportunityView:
            ensure_customer(session, customer_id)
            about = (func.lower(Opportunity.product) == product.lower()) if product else (
                func.lower(Opportunity.plan) == plan.lower())
            row = session.scalars(select(Opportunity).where(
                Opportunity.customer_id == customer_id, Opportunity.stage.in_(OPEN_STAGES), about,
            ).order_by(Opportunity.id.desc()).limit(1)).first()
            entered = row is None or STAGES.index(stage) > STAGES.index(row.stage)
            if row is None:
                row = Opportunity(customer_id=customer_id, product=product, plan=plan, stage=stage)
                session.add(row)
            elif entered:
                row.stage = stage  # forward only: a new question never demotes a lead
            row.quantity = quantity if quantity is not None else row.quantity
            row.value = value if value is not None else row.value
            row.next_step = next_step or row.next_step
            row.channel = channel or row.channel
            row.last_touch_at = utcnow()
            session.flush()
            if entered:  # the insights metrics read when each stage was entered
                session.add(OpportunityStageChange(opportunity_id=row.id, stage=stage, at=row.last_touch_at))
            return _opportunity_view(row)

        return await self._run(work)

    async def open_case(
        self, customer_id: str, topic: str, order_id: Optional[str], channel: Optional[str],
    ) -> tuple[CaseView, bool]:
        def work(session: Session) -> tuple[CaseView, bool]:
            ensure_customer(session, customer_id)
            row = session.scalars(select(Case).where(
                Case.customer_id == customer_id, Case.topic == topic, Case.order_id == order_id,
                Case.status == "open",
            ).limit(1)).first()
            created = row is None
            if created:
                row = Case(customer_id=customer_id, topic=topic, order_id=order_id, channel=channel)
                session.add(row)
                session.flush()
            return _case_view(row), created

        return await self._run(work)

    async def make_promise(
        self, customer_id: str, text: str, due_date: date, case_id: Optional[str] = None,
    ) -> PromiseView:
        def work(session: Session) -> PromiseView:
            ensure_customer(session, customer_id)
            row = Promise(customer_id=customer_id, text=text, due_date=due_date,
                          case_id=int(case_id) if case_id else None)
            session.add(row)
            session.flush()
            return _promise_view(row)

        return await self._run(work)

    async def set_customer_language(self, customer_id: str, language: str) -> None:
        def work(session: Session) -> None:
            ensure_customer(session, customer_id)
            session.get(Customer, current_owner(session, customer_id)).language = language

        await self._run(work)

    async def has_open_handoff(self, customer_id: str) -> bool:
        def work(session: Session) -> bool:
            return session.scalar(select(Handoff.id).where(
                Handoff.customer_id == customer_id, Handoff.status.in_(OPEN_STATUSES)).limit(1)) is not None

        return await self._run(work)

    async def stop_proactive_messages(self, customer_id: str) -> bool:
        def work(session: Session) -> bool:
            ensure_customer(session, customer_id)
            return record_opt_out(session, current_owner(session, customer_id), ANY_CHANNEL, "request", utcnow())

        return await self._run(work)

    async def allow_proactive_messages(self, customer_id: str) -> bool:
        def work(session: Session) -> bool:
            return clear_any_channel_opt_out(session, current_owner(session, customer_id)) > 0

        return await self._run(work)


def _order_digits(order_id: str) -> str:
    return re.sub(r"\D", "", order_id)


def _product_info(row: Product) -> ProductInfo:
    return ProductInfo(row.sku, row.name, row.kind, row.price, row.currency, row.stock,
                       row.restock_date)


class SqlOrderBook(SqlStore):
    """The demo shop in the CRM database (seeded by `threadline.crm.demo_shop`)."""

    async def product(self, name: str) -> Optional[ProductInfo]:
        def work(session: Session) -> Optional[ProductInfo]:
            row = session.scalars(select(Product).where(
                func.lower(Product.name) == name.strip().lower())).first()
            return _product_info(row) if row else None

        return await self._run(work)

    def _order_info(self, session: Session, row: Order) -> OrderInfo:
        product = session.get(Product, row.sku)
        return OrderInfo(row.id, row.customer_id, product.name if product else row.sku,
                         row.quantity, row.status, row.placed_at, row.estimated_delivery,
                         row.delivered_on, row.carrier)

    async def order(self, order_id: str) -> Optional[OrderInfo]:
        def work(session: Session) -> Optional[OrderInfo]:
            row = session.get(Order, order_id.strip().upper())
            return self._order_info(session, row) if row else None

        return await self._run(work)

    async def matching(self, digits: str, customer_id: str) -> List[OrderInfo]:
        if not digits.isdigit() or len(digits) < MIN_MATCHING_DIGITS:
            return []

        def work(session: Session) -> List[OrderInfo]:
            owner = current_owner(session, customer_id)
            # `digits` is digits only, so it holds no LIKE wildcard.
            rows = session.scalars(select(Order).where(
                Order.id.like(f"%{digits}"),
                or_(Order.customer_id == owner, Order.customer_id.is_(None)),
            ).order_by(Order.placed_at.desc(), Order.id)).all()
            whole = [r for r in rows if _order_digits(r.id) == digits]
            ending = [r for r in rows if r.customer_id == owner and _order_digits(r.id).endswith(digits)]
            return [self._order_info(session, r) for r in (whole or ending)]

        return await self._run(work)

    async def latest_order(self, customer_id: str) -> Optional[OrderInfo]:
        def work(session: Session) -> Optional[OrderInfo]:
            row = session.scalars(select(Order).where(Order.customer_id == customer_id)
                                  .order_by(Order.placed_at.desc()).limit(1)).first()
            return self._order_info(session, row) if row else None

        return await self._run(work)
