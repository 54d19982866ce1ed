"""Forms that know when to stop, and slots from the right place (issue #15), in real conversations:
the trained model, the project's action server on a seeded CRM, the Redis tracker and lock stores
(tests/forms/conftest.py). Each test writes as a customer would, message after message, and checks
what the customer reads."""
from __future__ import annotations

from typing import List, Set

import pytest

from tests.forms.conftest import Customer

pytestmark = pytest.mark.slow(minutes=1)


@pytest.fixture
def form_questions(trained_processor) -> Set[str]:
    """Every text a form asks a slot with (utter_ask_*, every channel and language)."""
    responses = trained_processor.domain.responses
    return {variant["text"] for name, variants in responses.items() if name.startswith("utter_ask_")
            and name not in ("utter_ask_rephrase", "utter_ask_which_intent", "utter_ask_is_it_about")
            for variant in variants if variant.get("text")}


def asks_a_form_question(replies: List[str], form_questions: Set[str]) -> bool:
    return any(reply in form_questions for reply in replies)


async def test_the_issue_table_replayed_on_whatsapp(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_table")
    delivery = await customer.says("how long does delivery take to Sao Paulo?")
    assert len(delivery) == 1 and "Delivery times" in delivery[0], delivery

    sneakers = await customer.says("do you have the blue sneakers in size 42?")
    assert not any("Sao Paulo" in reply for reply in sneakers), sneakers  # a city is never a product
    assert any("Drift Running Shoes" in reply for reply in sneakers), sneakers  # the closest real one
    assert sneakers[-1].startswith("Which product do you mean?"), sneakers

    plans = " ".join(await customer.says("how much is the pro plan?"))
    assert all(name in plans for name in ("Club Basic", "Club Plus", "Club Premium")), plans
    assert "Which product do you mean?" not in plans  # the product form stepped aside
    assert await customer.active_form() is None

    thanks = await customer.says("thanks!")
    assert thanks == ["You're welcome!"], thanks
    bye = await customer.says("bye")
    assert len(bye) == 1 and bye[0].startswith("Bye for now"), bye
    assert not asks_a_form_question(thanks + bye, form_questions)
    assert await customer.active_form() is None


@pytest.mark.parametrize("closer, answer", [
    ("thanks", "You're welcome!"),
    ("ok bye", "Bye for now"),
    ("never mind", "Is there anything else I can help with?"),
    ("forget about it", "Is there anything else I can help with?"),
])
async def test_a_closer_ends_the_order_form_without_another_question(assistant, form_questions, closer, answer):
    customer = Customer(assistant, f"cus_forms_closer_{closer.replace(' ', '_')}")
    asked = await customer.says("where is my order?")
    assert asked[-1].startswith("What's your order number?"), asked
    replies = await customer.says(closer)
    assert len(replies) == 1 and replies[0].startswith(answer), replies
    assert not asks_a_form_question(replies, form_questions)
    assert await customer.active_form() is None


async def test_deixa_pra_la_ends_the_form_in_portuguese(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_pt")
    asked = await customer.says("oi, cade o meu pedido?")
    assert asked[-1].startswith("Qual é o número do seu pedido?"), asked
    replies = await customer.says("deixa pra la")
    assert replies == ["Posso te ajudar com mais alguma coisa?"], replies
    assert await customer.active_form() is None
    thanks = await customer.says("obg")
    assert thanks == ["Imagina, por nada!"], thanks
    assert not asks_a_form_question(replies + thanks, form_questions)


async def test_a_change_of_subject_parks_the_form_which_resumes_when_the_customer_comes_back(
        assistant, form_questions):
    customer = Customer(assistant, "cus_forms_park")
    asked = await customer.says("where is my order?")
    assert asked[-1].startswith("What's your order number?"), asked
    payment = await customer.says("which payment methods do you accept?")
    assert len(payment) == 1 and "Pix" in payment[0], payment
    assert not asks_a_form_question(payment, form_questions)
    assert await customer.active_form() is None
    # Coming back to it: the question is asked again, and the answer is given.
    again = await customer.says("ok, where is my order then?")
    assert again[-1].startswith("What's your order number?"), again
    status = " ".join(await customer.says("TL-70315"))
    assert "order TL-70315 (1 × Orbit Smartwatch) has shipped" in status, status


async def test_an_order_number_is_asked_at_most_twice_then_a_person_takes_over(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_twice")
    first = await customer.says("where is my order?")
    assert first[-1].startswith("What's your order number?"), first
    second = await customer.says("99991")
    assert second[0] == "I couldn't find order 99991." and second[-1].startswith("What's your order number?"), second
    third = await customer.says("88881")
    assert third[0] == "I couldn't find order 88881.", third
    assert not asks_a_form_question(third, form_questions)  # not a third time
    assert any("passing you to a colleague" in reply for reply in third), third
    tracker = await assistant.processor.tracker_store.retrieve(customer.customer_id)
    assert tracker.is_paused() and tracker.active_loop_name is None


async def test_a_product_from_an_earlier_question_is_reused_only_when_the_customer_refers_back(assistant):
    customer = Customer(assistant, "cus_forms_reuse")
    chair = " ".join(await customer.says("how much is the Atlas office chair?"))
    assert "Atlas Office Chair costs" in chair, chair
    await customer.says("no thanks")  # to the offer to order it
    it = " ".join(await customer.says("how much is it?"))
    assert "Atlas Office Chair costs" in it, it
    lamp = await customer.says("do you have a desk lamp?")
    assert not any("Atlas" in reply for reply in lamp), lamp
    assert any("Aurora Desk Lamp" in reply for reply in lamp), lamp
    assert lamp[-1].startswith("Which product do you mean?"), lamp
    answer = " ".join(await customer.says("the Aurora lamp"))
    assert "Aurora Desk Lamp costs" in answer, answer


async def test_a_city_next_to_a_product_fills_only_the_product(assistant):
    customer = Customer(assistant, "cus_forms_city")
    replies = " ".join(await customer.says("I live in Sao Paulo. Do you have the Orbit watch in stock right now?"))
    assert "Orbit Smartwatch costs" in replies and "Sao Paulo" not in replies, replies
    assert (await customer.slots())["product"] == "Orbit Smartwatch"


async def test_the_issue_table_in_portuguese_on_whatsapp(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_table_pt")
    delivery = await customer.says("quanto tempo demora a entrega pra Sao Paulo?")
    assert len(delivery) == 1 and "Prazos de entrega" in delivery[0], delivery
    sneakers = await customer.says("vcs tem o tenis azul no 42?")
    assert not any("Sao Paulo" in reply for reply in sneakers), sneakers
    assert any("Drift Running Shoes" in reply for reply in sneakers), sneakers
    assert sneakers[-1].startswith("Qual produto você quer dizer?"), sneakers
    plans = " ".join(await customer.says("quero saber do plano pro, quanto custa?"))
    assert all(name in plans for name in ("Club Basic", "Club Plus", "Club Premium")), plans
    assert "Qual produto" not in plans
    thanks = await customer.says("valeu!")
    assert thanks == ["Imagina, por nada!"], thanks
    bye = await customer.says("tchau")
    assert len(bye) == 1 and bye[0].startswith("Até mais!"), bye
    assert not asks_a_form_question(thanks + bye, form_questions)
    assert await customer.active_form() is None


async def test_a_goodbye_in_the_middle_of_the_sales_form_is_only_a_goodbye(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_sales_bye")
    asked = await customer.says("I want to buy the Trailhead backpack")
    assert asked[-1] == "How many would you like?", asked
    bye = await customer.says("gotta go, bye")
    assert len(bye) == 1 and bye[0].startswith("Bye for now"), bye
    assert not asks_a_form_question(bye, form_questions)
    # The product is kept: coming back to it asks only what is still missing.
    back = await customer.says("I'd like to order it now")
    assert back[-1] == "How many would you like?", back
    assert (await customer.slots())["product"] == "Trailhead Backpack"


async def test_a_refusal_to_give_the_email_ends_the_sales_form(assistant, form_questions):
    customer = Customer(assistant, "cus_forms_refusal")
    asked = await customer.says("I want to buy 2 Nimbus pillows")
    assert asked[-1].startswith("What's the best email"), asked
    refusal = await customer.says("I'd rather not give my email")
    assert refusal == ["Is there anything else I can help with?"], refusal
    assert not asks_a_form_question(refusal, form_questions)
    assert await customer.active_form() is None
    slots = await customer.slots()
    assert (slots["product"], slots["quantity"], slots["email"]) == ("Nimbus Pillow", "2", None)
