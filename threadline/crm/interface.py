"""What actions, connectors and the console may ask of the CRM, whatever backend stores it.

`Crm` is the customer memory (timeline, opportunities, cases, promises); `OrderBook` is the
shop's catalogue and orders. Both are protocols: the embedded SQL backend implements them,
HubSpot implements `Crm`, and a real shop plugs in its own `OrderBook` (docs/crm.md).
Every method raises `CrmUnavailable` when the store cannot be reached: callers degrade
(answer without context) instead of failing the conversation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import List, Optional, Protocol, Sequence


class CrmUnavailable(Exception):
    """The CRM store could not be reached or refused the operation; retry later."""


@dataclass(frozen=True)
class InteractionRecord:
    """One message for the timeline; `idempotency_key` identifies it across replays."""

    customer_id: str
    author: str  # customer | bot | agent
    channel: Optional[str]
    text: Optional[str]
    occurred_at: datetime
    idempotency_key: str
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: Sequence[dict] = ()
    delivery_status: Optional[str] = None
    provider_message_id: Optional[str] = None
    # Keys an earlier version gave the same message (a row with one of them is this message).
    earlier_keys: Sequence[str] = ()
    # A bot message's response name (`utter_greet`), when Rasa sent a domain response.
    response: Optional[str] = None


@dataclass(frozen=True)
class OpportunityView:
    id: str
    product: Optional[str]
    plan: Optional[str]
    quantity: Optional[int]
    stage: str
    value: Optional[Decimal]
    next_step: Optional[str]
    channel: Optional[str]
    last_touch_at: datetime


@dataclass(frozen=True)
class CaseView:
    id: str
    topic: str
    order_id: Optional[str]
    status: str
    channel: Optional[str]
    created_at: datetime


@dataclass(frozen=True)
class PromiseView:
    id: str
    text: str
    due_date: date
    status: str
    case_id: Optional[str]


@dataclass(frozen=True)
class Profile:
    """What the bot should know when a customer comes back."""

    customer_id: str
    display_name: Optional[str]
    email: Optional[str]
    phone: Optional[str]
    opportunities: List[OpportunityView] = field(default_factory=list)  # open ones, newest first
    cases: List[CaseView] = field(default_factory=list)  # open ones, newest first
    promises: List[PromiseView] = field(default_factory=list)  # open ones, soonest first
    last_channel: Optional[str] = None  # channel of the last customer message in the timeline
    language: Optional[str] = None  # the language the customer is answered in ("en", "pt")

    @property
    def is_known(self) -> bool:
        return bool(self.opportunities or self.cases or self.promises or self.last_channel)


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    kind: str
    price: Decimal
    currency: str
    stock: Optional[int]
    restock_date: Optional[date]

    @property
    def in_stock(self) -> bool:
        return self.kind == "plan" or (self.stock or 0) > 0


@dataclass(frozen=True)
class OrderInfo:
    id: str
    customer_id: Optional[str]
    product_name: str
    quantity: int
    status: str  # processing | shipped | delivered | cancelled
    placed_at: datetime
    estimated_delivery: Optional[date]
    delivered_on: Optional[date]
    carrier: Optional[str]

    def is_late(self, today: date) -> bool:
        return (
            self.status in ("processing", "shipped")
            and self.estimated_delivery is not None
            and self.estimated_delivery < today
        )


class Crm(Protocol):
    async def profile(self, customer_id: str) -> Profile: ...

    async def record_interactions(self, records: Sequence[InteractionRecord]) -> int:
        """Store the records not stored yet (by idempotency key); returns how many were new."""

    async def set_delivery_status(self, provider_message_id: str, status: str) -> bool: ...

    async def timeline(self, customer_id: str, limit: int = 100) -> List[InteractionRecord]: ...

    async def touch_opportunity(
        self, customer_id: str, *, product: Optional[str] = None, plan: Optional[str] = None,
        stage: str = "new", quantity: Optional[int] = None, value: Optional[Decimal] = None,
        next_step: Optional[str] = None, channel: Optional[str] = None,
    ) -> OpportunityView:
        """Create the open opportunity for this product/plan, or move it forward (never back)."""

    async def open_case(
        self, customer_id: str, topic: str, order_id: Optional[str], channel: Optional[str],
    ) -> tuple[CaseView, bool]:
        """The open case for (topic, order), created if needed; True when it was created."""

    async def make_promise(
        self, customer_id: str, text: str, due_date: date, case_id: Optional[str] = None,
    ) -> PromiseView: ...

    async def set_customer_language(self, customer_id: str, language: str) -> None:
        """Remember the language the customer is answered in (detected, or set by an agent)."""

    async def has_open_handoff(self, customer_id: str) -> bool:
        """Seam for human handoff (issue 9): True while an escalation is waiting or assigned."""

    async def stop_proactive_messages(self, customer_id: str) -> bool:
        """The customer asked not to be written to first on any channel ("stop messaging me"):
        follow-ups skip them. False when they already had."""

    async def allow_proactive_messages(self, customer_id: str) -> bool:
        """The customer takes that back ("you can message me again"); False when there was none."""

    async def close(self) -> None: ...


class OrderBook(Protocol):
    async def product(self, name: str) -> Optional[ProductInfo]: ...

    async def order(self, order_id: str) -> Optional[OrderInfo]: ...

    async def matching(self, digits: str, customer_id: str) -> List[OrderInfo]:
        """The orders a customer may mean by the digits they typed ("48213" for TL-48213), newest
        first: their own orders whose number ends with the digits (only those whose whole number
        is the digits, when there are any), and an order the shop has no customer for only when
        its whole number is the digits (what typing its full id already shows). Never another
        customer's order, so typing numbers tells a customer nothing about anyone else's."""

    async def latest_order(self, customer_id: str) -> Optional[OrderInfo]: ...
