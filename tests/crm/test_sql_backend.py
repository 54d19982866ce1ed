"""The embedded SQL backend: what actions and the timeline rely on, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from threadline.crm.interface import InteractionRecord
from tests.crm.shop import give_orders
from threadline.crm.models import Case, Interaction, Opportunity, Order, Product


def record(key: str, author: str = "customer", channel: str = "whatsapp", text: str = "hi") -> InteractionRecord:
    return InteractionRecord("cus_ana", author, channel, text, datetime(2026, 11, 20, 10), key,
                             intent="greet", confidence=0.9, entities=[{"entity": "product", "value": "x"}])


def count(database, model) -> int:
    return database.transaction(lambda s: s.scalar(select(func.count()).select_from(model)))


async def test_demo_shop_is_seeded_once_from_the_catalogue_files(database, crm):
    from threadline.crm.demo_shop import SeedDemoShop

    assert count(database, Product) == 18 and count(database, Order) == 5
    assert SeedDemoShop(database, date.today())() == 0  # not empty any more: left alone
    shoes = await crm.orders.product("drift running shoes")
    assert (shoes.sku, str(shoes.price), shoes.stock) == ("SHO-DRF", "499.00", 18)
    late = await crm.orders.order("tl-48213")
    assert late.product_name == "Drift Running Shoes" and late.is_late(date.today())
    assert late.estimated_delivery == date.today() - timedelta(days=2)
    assert not (await crm.orders.order("TL-70315")).is_late(date.today())
    assert await crm.orders.order("TL-00000") is None


async def test_interactions_are_written_once_per_idempotency_key(database, crm):
    assert await crm.crm.record_interactions([record("k1"), record("k2", "bot")]) == 2
    assert await crm.crm.record_interactions([record("k2", "bot"), record("k3", channel="sms")]) == 1
    timeline = await crm.crm.timeline("cus_ana")
    assert [(r.idempotency_key, r.author, r.channel) for r in timeline] == [
        ("k1", "customer", "whatsapp"), ("k2", "bot", "whatsapp"), ("k3", "customer", "sms")]
    assert timeline[0].entities == [{"entity": "product", "value": "x"}]
    assert count(database, Interaction) == 3


async def test_opportunities_only_move_forward_and_are_one_per_product(database, crm):
    first = await crm.crm.touch_opportunity("cus_ana", product="Drift Running Shoes", channel="instagram")
    qualified = await crm.crm.touch_opportunity("cus_ana", product="drift running shoes", stage="qualified", quantity=2)
    again = await crm.crm.touch_opportunity("cus_ana", product="Drift Running Shoes", stage="new", channel="sms")
    assert first.id == qualified.id == again.id
    assert (again.stage, again.quantity, again.channel) == ("qualified", 2, "sms")
    await crm.crm.touch_opportunity("cus_ana", plan="Club Plus")
    assert count(database, Opportunity) == 2


async def test_a_case_is_opened_once_per_topic_and_order(database, crm):
    case, created = await crm.crm.open_case("cus_ana", "late_order", "TL-48213", "sms")
    same, created_again = await crm.crm.open_case("cus_ana", "late_order", "TL-48213", "whatsapp")
    other, _ = await crm.crm.open_case("cus_ana", "refund_request", "TL-48213", "sms")
    assert created and not created_again and same.id == case.id and other.id != case.id
    assert count(database, Case) == 2


async def test_profile_lists_open_items_and_contact_details(database, crm):
    from threadline.crm.models import ChannelIdentity, Customer

    def add_identity(session):
        session.add(Customer(id="cus_ana", display_name="Ana"))
        session.add(ChannelIdentity(customer_id="cus_ana", channel="email", address="ana@example.com",
                                    key="email:ana@example.com", source="import"))

    database.transaction(add_identity)
    await crm.crm.record_interactions([record("k1", channel="instagram")])
    case, _ = await crm.crm.open_case("cus_ana", "late_order", "TL-48213", "sms")
    await crm.crm.make_promise("cus_ana", "Update", date(2026, 11, 24), case.id)
    await crm.crm.touch_opportunity("cus_ana", product="Nimbus Pillow")
    profile = await crm.crm.profile("cus_ana")
    assert (profile.display_name, profile.email, profile.last_channel) == ("Ana", "ana@example.com", "instagram")
    assert [c.order_id for c in profile.cases] == ["TL-48213"]
    assert [p.case_id for p in profile.promises] == [case.id]
    assert [o.product for o in profile.opportunities] == ["Nimbus Pillow"]
    assert not (await crm.crm.profile("cus_nobody")).is_known


async def test_operators_see_the_open_items(database, crm):
    from threadline.cli.customers import _render_customer
    from threadline.crm.models import Customer
    from threadline.identity import lookup

    database.transaction(lambda s: s.add(Customer(id="cus_ana")))
    lead = await crm.crm.touch_opportunity("cus_ana", product="Nimbus Pillow", next_step="offer to order it")
    case, _ = await crm.crm.open_case("cus_ana", "late_order", "TL-48213", "sms")
    promise = await crm.crm.make_promise("cus_ana", "Update on late order TL-48213", date(2026, 11, 24), case.id)
    described = database.transaction(lambda s: lookup.describe(s, "cus_ana"))
    items = described["open_items"]
    assert [(o["id"], o["product"], o["stage"]) for o in items["opportunities"]] == [(int(lead.id), "Nimbus Pillow", "new")]
    assert [(c["topic"], c["order_id"]) for c in items["cases"]] == [("late_order", "TL-48213")]
    assert items["promises"] == [{"id": int(promise.id), "text": "Update on late order TL-48213", "due_date": "2026-11-24",
                                  "case_id": int(case.id)}]
    text = _render_customer(described)
    assert f"case #{case.id}  late_order  order TL-48213" in text and f"promise #{promise.id}  due 2026-11-24" in text


def ids(orders) -> list:
    return [o.id for o in orders]


async def test_orders_matching_typed_digits_are_the_customers_own(database, crm):
    give_orders(database, {"TL-48213": "cus_ana", "TL-50927": "cus_ana", "TL-150927": "cus_ana",
                           "TL-70315": "cus_bob"})
    assert ids(await crm.orders.matching("48213", "cus_ana")) == ["TL-48213"]
    # The whole number of one order wins over the orders it ends; the end alone finds all of
    # the customer's, newest first.
    assert ids(await crm.orders.matching("50927", "cus_ana")) == ["TL-50927"]
    assert ids(await crm.orders.matching("0927", "cus_ana")) == ["TL-150927", "TL-50927"]
    # Another customer's order is never matched, by its whole number or its end.
    assert await crm.orders.matching("70315", "cus_ana") == []
    assert await crm.orders.matching("0315", "cus_ana") == []
    assert ids(await crm.orders.matching("70315", "cus_bob")) == ["TL-70315"]
    # An order the shop has no customer for answers to its whole number only (as "TL-61884"
    # typed whole already does), never to its end.
    assert ids(await crm.orders.matching("61884", "cus_ana")) == ["TL-61884"]
    assert await crm.orders.matching("1884", "cus_ana") == []
    # Too few digits, or not digits, match nothing.
    assert await crm.orders.matching("213", "cus_ana") == []
    assert await crm.orders.matching("48%", "cus_ana") == []


async def test_orders_matching_follows_a_merged_customer_to_the_survivor(database, crm):
    from threadline.crm.models import Customer

    def merge(session) -> None:
        session.add_all([Customer(id="cus_ana"), Customer(id="cus_old", merged_into="cus_ana")])
    database.transaction(merge)
    give_orders(database, {"TL-48213": "cus_ana"})
    assert ids(await crm.orders.matching("48213", "cus_old")) == ["TL-48213"]
