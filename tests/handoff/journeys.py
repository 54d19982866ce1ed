"""A scripted customer journey across three channels, stored as the real system stores it.

Ana asks on Instagram whether the Drift Running Shoes are in stock (a lead is opened), buys
them (demo order TL-48213, two days late), asks on WhatsApp where the order is (a late-order
case and a promise of an update the next day), and two days later complains by email that
the promised update never came. The tracker events are Rasa's own (`.as_dict()`), with the
channel metadata the connectors add; the CRM gets what the actions and the timeline consumer
would have written.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import List

from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

from threadline.crm.backends import CrmServices
from threadline.crm.db import Database
from threadline.crm.models import Order
from threadline.crm.timeline import interactions_from_events
from threadline.identity.directory import create_customer

ORDER_ID = "TL-48213"  # demo shop: Drift Running Shoes, shipped with Correios, 2 days late
PRODUCT = "Drift Running Shoes"
EMAIL = "ana.souza@example.com"
PHONE = "+55 11 98765-4321"
COMPLAINT = (f"This is unacceptable. My order {ORDER_ID} is still not here and nobody sent the "
             f"update you promised. Worst service ever! Call me on {PHONE} or write to {EMAIL}. Ana Souza")


@dataclass
class Journey:
    customer_id: str
    events: List[dict]
    instagram_day: date
    whatsapp_day: date
    email_day: date


def at(day: date, hour: int, minute: int = 0) -> float:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc).timestamp()


def session_start(stamp: float) -> List[dict]:
    return [ActionExecuted("action_session_start", timestamp=stamp).as_dict(),
            SessionStarted(timestamp=stamp).as_dict(),
            ActionExecuted("action_listen", timestamp=stamp).as_dict()]


def customer_says(stamp: float, channel: str, text: str, intent: str, confidence: float,
                  entities: List[dict] = ()) -> dict:
    metadata = {"channel": channel, "address": "redacted-in-tests", "provider_message_id": f"{channel}-{stamp}"}
    return UserUttered(text, {"name": intent, "confidence": confidence}, list(entities), timestamp=stamp,
                       input_channel=channel, message_id=f"{channel}-{stamp}", metadata=metadata).as_dict()


def bot_answers(stamp: float, action: str, text: str, utter_action: str = "") -> List[dict]:
    metadata = {"utter_action": utter_action} if utter_action else {}
    return [ActionExecuted(action, timestamp=stamp).as_dict(),
            BotUttered(text, {}, metadata, timestamp=stamp + 1).as_dict(),
            ActionExecuted("action_listen", timestamp=stamp + 1).as_dict()]


def entity(name: str, value: str, text: str) -> dict:
    start = text.index(value) if value in text else 0
    return {"entity": name, "value": value, "start": start, "end": start + len(value), "extractor": "test"}


async def three_channel_journey(services: CrmServices, database: Database, today: date) -> Journey:
    customer_id = database.transaction(lambda session: create_customer(session, display_name="Ana Souza").id)
    instagram_day, whatsapp_day = today - timedelta(days=4), today - timedelta(days=2)
    events: List[dict] = []

    question = "Hi! Do you have the Drift Running Shoes in size 42?"
    events += session_start(at(instagram_day, 14))
    events.append(customer_says(at(instagram_day, 14, 2), "instagram", question, "product_availability", 0.93,
                                [entity("product", PRODUCT, question)]))
    events += bot_answers(at(instagram_day, 14, 2), "action_product_info",
                          "The Drift Running Shoes costs BRL 499.00 and we have 12 in stock.")
    events.append(customer_says(at(instagram_day, 14, 4), "instagram", "great, thanks!", "thank", 0.97))
    events += bot_answers(at(instagram_day, 14, 4), "utter_you_are_welcome", "You're welcome!", "utter_you_are_welcome")
    await services.crm.touch_opportunity(customer_id, product=PRODUCT, stage="new", channel="instagram",
                                         next_step="offer to order it")

    def assign_order(session) -> None:  # Ana bought the shoes in the shop
        session.get(Order, ORDER_ID).customer_id = customer_id
    database.transaction(assign_order)

    where = f"Hi, I bought them. Where is my order {ORDER_ID}?"
    events += session_start(at(whatsapp_day, 9, 30))
    events.append(customer_says(at(whatsapp_day, 9, 31), "whatsapp", where, "order_status", 0.95,
                                [entity("order_id", ORDER_ID, where)]))
    case, _ = await services.crm.open_case(customer_id, "late_order", ORDER_ID, "whatsapp")
    update_by = whatsapp_day + timedelta(days=1)
    await services.crm.make_promise(customer_id, f"Update on late order {ORDER_ID}", update_by, case.id)
    events += bot_answers(at(whatsapp_day, 9, 31), "action_order_status", (
        f"Your order {ORDER_ID} (1 × {PRODUCT}) has shipped with Correios; it was due on "
        f"{(today - timedelta(days=2)):%a %d %b}, so it is late. I've opened case #{case.id} with our "
        f"delivery team and we'll update you by {update_by:%a %d %b}."))

    events += session_start(at(today, 8, 15))
    events.append(customer_says(at(today, 8, 16), "email", COMPLAINT, "complaint", 0.88, [
        entity("order_id", ORDER_ID, COMPLAINT), entity("phone", PHONE, COMPLAINT), entity("email", EMAIL, COMPLAINT)]))
    events += bot_answers(at(today, 8, 16), "utter_complaint_ack", (
        "I'm really sorry about this. I've recorded your complaint and I'm bringing in a colleague "
        "who can put it right."), "utter_complaint_ack")

    records, _ = interactions_from_events(customer_id, events, None)  # as the timeline consumer writes them
    await services.crm.record_interactions(records)
    return Journey(customer_id, events, instagram_day, whatsapp_day, today)
