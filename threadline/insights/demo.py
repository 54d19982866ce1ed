"""`bin/threadline demo-operation`: a generated, reproducible operation for the Insights page.

Customers (`cus_demo_NNNNN`) on every channel, over the `days` before `end`: order questions
(some asking again for an order number the shop already has), purchases that qualify, stall,
recover or go silent, complaints handed to a person (some never answered), messages the bot did
not understand, refunds that come back, and mail left unanswered at night. The same seed and end
day give the same rows. It only writes to an empty CRM (no customers) or one that holds only
demo customers, whose rows it replaces; every other database is refused.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import List, Optional, Tuple

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import (
    Agent, Base, Case, ChannelIdentity, Customer, Handoff, HandoffEvent, IdentifierOwner, Interaction, Opportunity,
    OpportunityStageChange, Order, Product,
)
from threadline.crm.models.handoffs import CLOSE_LABELS
from threadline.insights.business_hours import BusinessHours

PREFIX = "cus_demo_"
DEMO_AGENTS = 3
NO_LOGIN = "!demo agent: no password logs in"
CHANNEL_WEIGHTS = {"whatsapp": 45, "instagram": 20, "sms": 10, "email": 15, "webchat": 7, "rcs": 3}
FIRST = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Isabela", "João", "Karina",
         "Lucas", "Marina", "Nuno", "Olívia", "Paulo", "Renata", "Sérgio", "Tatiana", "Vitor")
LAST = ("Almeida", "Barros", "Campos", "Dias", "Esteves", "Ferraz", "Gomes", "Lima", "Moura", "Nogueira",
        "Pires", "Queiroz", "Ramos", "Souza", "Teixeira", "Vieira")
SCENARIOS = (("order_status", 24), ("purchase", 30), ("complaint", 10), ("not_understood", 8),
             ("refund", 8), ("unanswered", 8), ("greeting", 6), ("plan", 6))


class DemoRefused(Exception):
    """The database holds a real operation (or something else): the demo does not touch it."""


@dataclass
class _Customer:
    id: str
    name: str
    channels: List[str]
    phone: str
    email: str
    orders: List[str] = field(default_factory=list)


class _Writer:
    """Collects rows for one customer; `DemoOperation` inserts them in bulk."""

    def __init__(self, customer: _Customer, rng: random.Random) -> None:
        self.customer, self.rng = customer, rng
        self.messages: List[dict] = []
        self.serial = 0
        self.handed_over = False  # an open handoff pauses the bot: no more cycles for this customer

    def say(self, author: str, at: datetime, channel: str, text: str, *, intent: Optional[str] = None,
            response: Optional[str] = None, entities: Tuple[Tuple[str, str], ...] = ()) -> datetime:
        self.serial += 1
        self.messages.append(dict(
            customer_id=self.customer.id, author=author, channel=channel, text=text, intent=intent,
            confidence=round(self.rng.uniform(0.72, 0.99), 3) if intent and intent != "nlu_fallback" else (
                0.31 if intent else None),
            entities=json.dumps([{"entity": e, "value": v} for e, v in entities]), response=response,
            occurred_at=at, delivery_status="received" if author == "customer" else "delivered",
            idempotency_key=f"demo:{self.customer.id}:{self.serial}", created_at=at))
        return at


@dataclass
class DemoOperation:
    database: Database
    customers: int = 2000
    seed: int = 17
    days: int = 60
    end: Optional[date] = None
    hours: BusinessHours = field(default_factory=BusinessHours.parse)

    def __call__(self) -> dict:
        if self.customers < 1 or self.customers > 200_000:
            raise ValueError("--customers must be between 1 and 200000")
        end = self.end or datetime.now(timezone.utc).date()
        SeedDemoShop(self.database, end)()
        from threadline.crm.aggregates import rebuild

        # The demo writes its rows directly, not through the timeline consumer: its aggregates
        # are rebuilt from them in the same transaction.
        return self.database.transaction(lambda session: {**self._fill(session, end),
                                                          "aggregated_messages": rebuild(session, self.hours.zone)})

    def _check(self, session: Session) -> int:
        others = session.scalar(select(func.count()).select_from(Customer).where(~Customer.id.startswith(PREFIX)))
        foreign = session.scalar(select(func.count()).select_from(Interaction).where(
            ~Interaction.customer_id.startswith(PREFIX)))
        if others or foreign:
            raise DemoRefused(
                f"the CRM database holds {others} customer(s) that are not demo customers: demo-operation only "
                "fills an empty database or replaces an earlier demo. Point CRM_DATABASE_URL at a new database.")
        return session.scalar(select(func.count()).select_from(Customer)) or 0

    def _wipe(self, session: Session) -> None:
        demo_handoffs = select(Handoff.id).where(Handoff.customer_id.startswith(PREFIX))
        session.execute(HandoffEvent.__table__.delete().where(HandoffEvent.handoff_id.in_(demo_handoffs)))
        demo_opportunities = select(Opportunity.id).where(Opportunity.customer_id.startswith(PREFIX))
        session.execute(OpportunityStageChange.__table__.delete().where(
            OpportunityStageChange.opportunity_id.in_(demo_opportunities)))
        for table in reversed(Base.metadata.sorted_tables):
            if "customer_id" in table.c and table.name != "customers":
                session.execute(table.delete().where(table.c.customer_id.startswith(PREFIX)))
        session.execute(Customer.__table__.delete().where(Customer.id.startswith(PREFIX)))
        session.expunge_all()

    def _fill(self, session: Session, end: date) -> dict:
        replaced = self._check(session)
        if replaced:
            self._wipe(session)
        for n in range(1, DEMO_AGENTS + 1):  # who answers the demo handoffs; they cannot log in
            if session.get(Agent, f"agt_demo_{n}") is None:
                session.add(Agent(id=f"agt_demo_{n}", name=f"demo-agent-{n}", password_hash=NO_LOGIN, active=False))
        session.flush()
        rng = random.Random(self.seed)
        products = session.execute(select(Product.sku, Product.name).where(Product.kind == "product")
                                   .order_by(Product.sku)).all()  # not `price`: SQLite has no decimals
        plans = session.scalars(select(Product.name).where(Product.kind == "plan").order_by(Product.sku)).all()
        end_at = self.hours.to_utc(end + timedelta(days=1))
        start_at = end_at - timedelta(days=self.days)
        counts = {"customers": 0, "messages": 0, "opportunities": 0, "cases": 0, "handoffs": 0, "orders": 0}
        channels, weights = zip(*CHANNEL_WEIGHTS.items())
        batch: List[dict] = []
        for n in range(1, self.customers + 1):
            chosen = rng.choices(channels, weights, k=rng.choice((1, 1, 1, 2)))
            customer = _Customer(f"{PREFIX}{n:05d}", f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                                 list(dict.fromkeys(chosen)), f"+55119{n:08d}", f"demo{n:05d}@example.com")
            created = start_at + timedelta(minutes=rng.randrange(0, self.days * 24 * 60 // 2))
            session.add(Customer(id=customer.id, display_name=customer.name, created_at=created, language="en"))
            session.flush()
            for channel in customer.channels:
                kind, value = ("email", customer.email) if channel == "email" else ("phone", customer.phone)
                session.add(ChannelIdentity(customer_id=customer.id, channel=channel, address=value,
                                            key=f"{kind}:{value}", verified=True, source=f"inbound:{channel}",
                                            created_at=created))
                if not session.get(IdentifierOwner, f"{kind}:{value}"):
                    session.add(IdentifierOwner(key=f"{kind}:{value}", customer_id=customer.id, created_at=created))
            if rng.random() < 0.5 and products:
                order_id = f"TL-D{n:05d}"
                customer.orders.append(order_id)
                session.add(Order(id=order_id, customer_id=customer.id, sku=rng.choice(products).sku, quantity=1,
                                  status=rng.choice(("processing", "shipped", "delivered")), placed_at=created,
                                  estimated_delivery=(created + timedelta(days=7)).date(), carrier="Correios"))
                counts["orders"] += 1
            writer = _Writer(customer, rng)
            at = created
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                if writer.handed_over:
                    break
                at = at + timedelta(hours=rng.uniform(2, 24 * 12))
                at = self._daytime(at, rng)
                if at >= end_at:
                    break
                scenario = rng.choices([s for s, _ in SCENARIOS], [w for _, w in SCENARIOS])[0]
                at = getattr(self, f"_{scenario}")(session, writer, at, rng, products, plans, counts, end_at)
            batch.extend(m for m in writer.messages if m["occurred_at"] < end_at)
            counts["customers"] += 1
            if len(batch) > 5000:
                session.execute(insert(Interaction), batch)
                counts["messages"] += len(batch)
                batch = []
        if batch:
            session.execute(insert(Interaction), batch)
            counts["messages"] += len(batch)
        return {**counts, "replaced_earlier_demo": bool(replaced), "seed": self.seed,
                "from": start_at.isoformat() + "Z", "to": end_at.isoformat() + "Z"}

    def _daytime(self, at: datetime, rng: random.Random) -> datetime:
        """Most customers write between 08:00 and 22:00 local time."""
        local = self.hours.local(at)
        if 8 <= local.hour < 22 or rng.random() < 0.1:
            return at
        return at + timedelta(hours=(32 - local.hour) % 24, minutes=rng.randrange(0, 600))

    # --- scenarios: each writes one cycle (and what follows it) and returns its last time ----
    def _channel(self, writer: _Writer, rng: random.Random) -> str:
        return rng.choice(writer.customer.channels)

    def _order_status(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        order = w.customer.orders[0] if w.customer.orders else f"TL-{rng.randrange(10000, 99999)}"
        if rng.random() < 0.5:
            w.say("customer", at, ch, "Where is my order?", intent="order_status")
            at = w.say("bot", at + timedelta(seconds=3), ch, "What is your order number?", response="utter_ask_order_id")
            at = w.say("customer", at + timedelta(seconds=rng.randrange(20, 400)), ch, order,
                       intent="provide_order_number", entities=(("order_id", order),))
        else:
            w.say("customer", at, ch, f"Where is my order {order}?", intent="order_status",
                  entities=(("order_id", order),))
        return w.say("bot", at + timedelta(seconds=4), ch, f"Order {order} is on its way with Correios.")

    def _purchase(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        product = rng.choice(products).name if products else "Aurora Desk Lamp"
        w.say("customer", at, ch, f"How much is the {product}?", intent="product_price",
              entities=(("product", product),))
        at = w.say("bot", at + timedelta(seconds=3), ch, f"The {product} costs R$ 189.90. Shall I reserve one?",
                   response="utter_offer_purchase")
        opportunity = Opportunity(customer_id=w.customer.id, product=product, stage="new", channel=ch,
                                  created_at=at, last_touch_at=at)
        session.add(opportunity)
        session.flush()
        counts["opportunities"] += 1
        stages = [(at, "new")]
        roll = rng.random()
        if roll < 0.25:  # asked the price and went silent
            pass
        else:
            at = w.say("customer", at + timedelta(minutes=rng.randrange(1, 30)), ch, "Yes, I want 2.",
                       intent="purchase_intent", entities=(("quantity", "2"),))
            at = w.say("bot", at + timedelta(seconds=3), ch, "Done: I registered your order request.",
                       response="utter_lead_registered")
            stages.append((at, "qualified"))
            if roll < 0.45:  # stalls, then the customer comes back and buys
                at = at + timedelta(days=rng.uniform(4, 9))
                at = w.say("customer", self._daytime(at, rng), ch, "Is the offer still on?", intent="purchase_intent")
                at = w.say("bot", at + timedelta(seconds=3), ch, "It is: here is your proposal.",
                           response="utter_offer_purchase")
                stages.append((at, "proposal"))
                if rng.random() < 0.6:
                    stages.append((at + timedelta(hours=rng.uniform(1, 30)), "won"))
            elif roll < 0.6:  # stalls for good
                pass
            elif roll < 0.8:  # a person closes it
                opened = at + timedelta(minutes=1)
                handoff = self._handoff(session, w, opened, ch, "sales_ready", rng, counts, end_at)
                if handoff is not None and rng.random() < 0.5:
                    stages.append((handoff + timedelta(minutes=5), "won"))
                    at = handoff
                elif handoff is not None:
                    at = handoff
            else:
                stages.append((at + timedelta(hours=rng.uniform(1, 48)), "proposal"))
                stages.append((stages[-1][0] + timedelta(hours=rng.uniform(1, 48)), "won"))
        stages = [(t, s) for t, s in stages if t < end_at]
        for t, s in stages:
            session.add(OpportunityStageChange(opportunity_id=opportunity.id, stage=s, at=t))
        opportunity.stage, opportunity.last_touch_at = stages[-1][1], stages[-1][0]
        return at

    def _plan(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        plan = rng.choice(plans) if plans else "Basic"
        w.say("customer", at, ch, f"Tell me about the {plan} plan", intent="plan_interest", entities=(("plan", plan),))
        at = w.say("bot", at + timedelta(seconds=3), ch, "Here are our plans.", response="utter_plan_overview")
        opportunity = Opportunity(customer_id=w.customer.id, plan=plan, stage="new", channel=ch,
                                  created_at=at, last_touch_at=at)
        session.add(opportunity)
        session.flush()
        session.add(OpportunityStageChange(opportunity_id=opportunity.id, stage="new", at=at))
        counts["opportunities"] += 1
        return at

    def _complaint(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        order = w.customer.orders[0] if w.customer.orders else None
        w.say("customer", at, ch, "This is the second time my delivery is late, I am upset.", intent="complaint")
        at = w.say("bot", at + timedelta(seconds=3), ch, "I am sorry. A person will take it from here.",
                   response="utter_handoff")
        case = Case(customer_id=w.customer.id, topic="late_order", order_id=order, channel=ch, created_at=at)
        session.add(case)
        counts["cases"] += 1
        last = self._handoff(session, w, at, ch, "complaint", rng, counts, end_at, ask_order=bool(order))
        if last is not None:
            case.status, case.resolved_at = "resolved", last
            at = last
        return at

    def _not_understood(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        w.say("customer", at, ch, "hmm the thing from before??", intent="nlu_fallback")
        at = w.say("bot", at + timedelta(seconds=3), ch, "Sorry, I did not get that. Could you rephrase?",
                   response="utter_ask_rephrase")
        if rng.random() < 0.5:
            at = w.say("customer", at + timedelta(minutes=2), ch, "forget it", intent="nlu_fallback")
            at = w.say("bot", at + timedelta(seconds=3), ch, "Let me get you a person.", response="utter_handoff")
            last = self._handoff(session, w, at, ch, "not_understood", rng, counts, end_at)
            at = last or at
        return at

    def _refund(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        w.say("customer", at, ch, "I want a refund for my order", intent="refund_request")
        at = w.say("bot", at + timedelta(seconds=3), ch, "I opened a refund request; it takes up to 5 working days.")
        case = Case(customer_id=w.customer.id, topic="refund_request", channel=ch, created_at=at,
                    status="resolved", resolved_at=at + timedelta(hours=rng.uniform(2, 40)))
        session.add(case)
        counts["cases"] += 1
        if rng.random() < 0.4:  # comes back: the refund did not arrive
            back = self._daytime(case.resolved_at + timedelta(days=rng.uniform(1, 5)), rng)
            w.say("customer", back, ch, "Where is my refund?", intent="refund_status")
            at = w.say("bot", back + timedelta(seconds=3), ch, "Your refund was sent; it shows in 2 days.")
        return at

    def _unanswered(self, session, w, at, rng, products, plans, counts, end_at):
        ch = "email" if "email" in w.customer.channels else self._channel(w, rng)
        return w.say("customer", at, ch, "Do you deliver to Manaus?", intent="delivery_options")

    def _greeting(self, session, w, at, rng, products, plans, counts, end_at):
        ch = self._channel(w, rng)
        w.say("customer", at, ch, "hi", intent="greet")
        at = w.say("bot", at + timedelta(seconds=2), ch, "Hi! How can I help?", response="utter_greet")
        if rng.random() < 0.7:
            at = w.say("customer", at + timedelta(minutes=1), ch, "What payment methods do you take?",
                       intent="payment_methods")
            at = w.say("bot", at + timedelta(seconds=2), ch, "Card, Pix and boleto.", response="utter_payment_methods")
        return at

    def _handoff(self, session, w, at, ch, reason, rng, counts, end_at, ask_order=False) -> Optional[datetime]:
        """A handoff opened at `at`; an agent answers (within business hours, mostly) and closes it,
        or (one in eight) nobody answers. Returns when it was closed, None while it is open."""
        counts["handoffs"] += 1
        handoff_id = f"hof_demo_{w.customer.id[-5:]}_{w.serial:03d}"
        summary = {"intent": {"complaint": "complaint", "sales_ready": "purchase_intent"}.get(reason, "nlu_fallback"),
                   "channels": [ch], "open_items": [{"line": f"order {o}"} for o in w.customer.orders]}
        text = f"{w.customer.name} wrote on {ch}. " + " ".join(f"Order {o}." for o in w.customer.orders
                                                             if rng.random() < 0.8)
        row = Handoff(id=handoff_id, customer_id=w.customer.id, status="waiting", reason=reason,
                      priority=1 if reason == "complaint" else 2 if reason == "sales_ready" else 3, channel=ch,
                      summary_text=text, summary_json=json.dumps(summary), created_at=at)
        session.add(row)
        session.add(HandoffEvent(handoff_id=handoff_id, actor="bot", kind="opened", detail=f"reason={reason}", at=at))
        w.handed_over = True  # until it is closed below
        if rng.random() < 0.125:
            return None
        agent = f"agt_demo_{rng.randrange(1, DEMO_AGENTS + 1)}"
        wait = timedelta(minutes=rng.uniform(2, 90))
        reply_at = at + wait
        if self.hours.seconds_between(at, at + timedelta(hours=1)) == 0:  # closed now: next morning
            reply_at = at + timedelta(hours=rng.uniform(8, 14))
        if reply_at >= end_at:
            return None
        row.status, row.assigned_at, row.assigned_agent_id = "assigned", reply_at, agent
        session.add(HandoffEvent(handoff_id=handoff_id, actor=agent, kind="assigned", at=reply_at))
        ask = ask_order and rng.random() < 0.3
        w.say("agent", reply_at, ch, "Could you send me your order number?" if ask else
              f"Hi {w.customer.name.split()[0]}, I am on it.")
        last = reply_at
        if ask and w.customer.orders:
            last = w.say("customer", reply_at + timedelta(minutes=3), ch, w.customer.orders[0],
                         intent="provide_order_number", entities=(("order_id", w.customer.orders[0]),))
        last = w.say("agent", last + timedelta(minutes=rng.uniform(2, 30)), ch, "All sorted, thank you for waiting.")
        closed = last + timedelta(minutes=1)
        if closed >= end_at:
            return None
        row.status, row.resolved_at, row.resolution = "resolved", closed, "closed"
        w.handed_over = False
        if reason == "sales_ready" and rng.random() < 0.6:
            row.close_label = rng.choice(CLOSE_LABELS)
        session.add(HandoffEvent(handoff_id=handoff_id, actor=agent, kind="closed", at=closed))
        return closed
