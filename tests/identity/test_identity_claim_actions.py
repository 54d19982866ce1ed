"""The claim actions against a real CRM database, real Redis and a real SMTP server: what the
customer is told, the events returned, and who ends up being whom."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update

from actions import crm_context, identity_claims
from actions.identity_claims import ActionClaimIdentity, ActionVerifyIdentityClaim
from tests.crm.trackers import DOMAIN
from tests.identity.helpers import save_turns, user_texts
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import IdentityClaim, Order
from threadline.crm.models.base import utcnow
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook
from threadline.i18n.formatting import say_date

IGSID = "17841400000000001"
ORDER_SENT = ("If order TL-48213 is yours, I've sent a 6-digit code to the contact details we have for it. "
              "Type the code here within 10 minutes to link the order to this conversation.")
SENT = "To link a•••@example.com to this conversation, I've sent it a 6-digit code. Type the code here within 10 minutes."


def turn(sender_id: str, text: str, intent: str, **entities: str) -> Tracker:
    return Tracker.from_dict({
        "sender_id": sender_id,
        "slots": {name: None for name in DOMAIN["slots"]},
        "latest_message": {
            "text": text, "intent": {"name": intent, "confidence": 0.95},
            "entities": [{"entity": k, "value": v, "start": 0, "end": 1} for k, v in entities.items()],
            "metadata": {"channel": "instagram", "address": IGSID},
        },
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen", "latest_input_channel": "instagram",
    })


async def run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, [m.get("text") or m.get("response") for m in dispatcher.messages]


def code_of(mail) -> str:
    return re.search(r"verification code is (\d{6})\.", mail.get_body(("plain",)).get_content()).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


@pytest.fixture
async def tools(services, channel_sender, claim_limits):
    SeedDemoShop(services.db, date.today())()
    crm = CrmServices(SqlCrm(services.db), SqlOrderBook(services.db))
    crm_context.use_services(crm)
    installed = identity_claims.use_claim_tools(services, channel_sender, claim_limits)
    yield installed
    await installed.verify.settle()
    identity_claims.use_claim_tools(None)
    crm_context.use_services(None)


@pytest.fixture
async def ana(services, tools):
    """Ana wrote by email about a late order; the CRM has her case and promise."""
    customer = await services.resolver.resolve("email", "ana@example.com")
    await save_turns(services.histories, customer, [(1000.0, "where is TL-48213?")])
    crm = await crm_context.services()
    case, _ = await crm.crm.open_case(customer, "late_order", "TL-48213", "email")
    await crm.crm.make_promise(customer, "Update on late order TL-48213", date.today() + timedelta(days=1), case.id)
    return customer, case.id


@pytest.fixture
async def stranger(services, tools):
    customer = await services.resolver.resolve("instagram", IGSID)
    await save_turns(services.histories, customer, [(2000.0, "I'm ana@example.com")])
    return customer


async def test_a_claim_sends_a_code_and_reads_the_same_whoever_owns_the_address(services, ana, stranger, outbox):
    events, said = await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact",
                                                         email="ana@example.com"))
    assert (events, said) == ([], [SENT])
    [mail] = outbox
    assert mail["To"] == "ana@example.com"

    nobody = await services.resolver.resolve("instagram", "17841400000000002")
    events, said = await run(ActionClaimIdentity(), turn(nobody, "I'm alex@example.com", "provide_contact",
                                                         email="alex@example.com"))
    assert (events, said) == ([], [SENT])  # same words: nothing says whether the address is known
    assert [m["To"] for m in outbox] == ["ana@example.com", "alex@example.com"]


async def test_the_right_code_merges_and_greets_with_the_merged_context(services, tools, ana, stranger, outbox):
    ana_id, case_id = ana
    await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact", email="ana@example.com"))
    code = code_of(outbox[0])

    events, said = await run(ActionVerifyIdentityClaim(), turn(stranger, wrong(code), "provide_code"))
    assert (events, said) == ([], ["That code isn't right. You have 4 more tries."])
    events, said = await run(ActionVerifyIdentityClaim(), turn(stranger, f"the code is {code}", "provide_code",
                                                               verification_code=code))
    update_by = say_date(date.today() + timedelta(days=1))
    assert said == ["Thanks, that's confirmed: this conversation is now linked with your earlier messages to us. "
                    f"Your case #{case_id} about order TL-48213 is still open; we'll update you by {update_by}."]
    assert events == [SlotSet("order_id", "TL-48213"), SlotSet("email", "ana@example.com")]

    await tools.verify.settle()  # the turn is over: the deferred merge has run
    assert await services.resolver.resolve("instagram", IGSID) == ana_id
    assert user_texts(await services.histories.read_history(ana_id)) == ["where is TL-48213?", "I'm ana@example.com"]


async def test_five_wrong_codes_refuse_and_link_nothing(services, tools, ana, stranger, outbox):
    await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact", email="ana@example.com"))
    code = code_of(outbox[0])
    said = [(await run(ActionVerifyIdentityClaim(), turn(stranger, wrong(code), "provide_code")))[1][0]
            for _ in range(5)]
    assert said == ["That code isn't right. You have 4 more tries.", "That code isn't right. You have 3 more tries.",
                    "That code isn't right. You have 2 more tries.", "That code isn't right. You have 1 more try.",
                    "That code isn't right, and that was the last try, so nothing is linked. "
                    "You can ask for a new code in a while."]
    events, said = await run(ActionVerifyIdentityClaim(), turn(stranger, code, "provide_code"))
    assert events == [] and "confirmed" not in said[0]
    await tools.verify.settle()
    assert await services.resolver.resolve("instagram", IGSID) == stranger
    assert user_texts(await services.histories.read_history(ana[0])) == ["where is TL-48213?"]


async def test_an_expired_code_links_nothing(services, tools, ana, stranger, outbox):
    await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact", email="ana@example.com"))
    await services.db.run(lambda s: s.execute(update(IdentityClaim).values(expires_at=utcnow() - timedelta(seconds=1))))
    events, said = await run(ActionVerifyIdentityClaim(), turn(stranger, code_of(outbox[0]), "provide_code"))
    assert (events, said) == ([], ["That code has expired (codes last 10 minutes), so nothing is linked. "
                                   "Give me the address again and I'll send a new one."])
    await tools.verify.settle()
    assert await services.resolver.resolve("instagram", IGSID) == stranger


async def test_another_customers_order_number_sends_its_owner_a_code_and_forgets_the_number(
        services, tools, ana, stranger, outbox):
    await services.db.run(lambda s: setattr(s.get(Order, "TL-48213"), "customer_id", ana[0]))
    events, said = await run(ActionClaimIdentity(), turn(stranger, "my order is TL-48213", "provide_order_number",
                                                         order_id="TL-48213"))
    assert said == [ORDER_SENT]
    assert events == [SlotSet("order_id", None)]
    events, said = await run(ActionVerifyIdentityClaim(), turn(stranger, code_of(outbox[0]), "provide_code"))
    assert said[0].startswith("Thanks, that's confirmed")
    await tools.verify.settle()
    assert await services.resolver.resolve("instagram", IGSID) == ana[0]


async def test_an_unowned_order_or_own_address_is_just_noted(services, tools, ana, stranger, outbox):
    events, said = await run(ActionClaimIdentity(), turn(stranger, "order TL-70315", "provide_order_number",
                                                         order_id="TL-70315"))
    assert (events, said) == ([], ["utter_got_order_number"])
    events, said = await run(ActionClaimIdentity(), turn(ana[0], "it's ana@example.com", "provide_contact",
                                                         email="ana@example.com"))
    assert (events, said) == ([], ["utter_got_contact"])
    events, said = await run(ActionVerifyIdentityClaim(), turn(ana[0], "123456", "provide_code"))
    assert said == ["I'm not waiting for a code from you. To link an email, a phone or an order, just tell me which."]
    assert outbox == []


async def test_order_status_of_another_customers_order_asks_for_a_code_instead(services, tools, ana, stranger, outbox):
    from actions.orders import ActionOrderStatus

    await services.db.run(lambda s: setattr(s.get(Order, "TL-48213"), "customer_id", ana[0]))
    tracker = turn(stranger, "where is my order TL-48213?", "order_status", order_id="TL-48213")
    tracker.slots["order_id"] = "TL-48213"
    events, said = await run(ActionOrderStatus(), tracker)
    assert said == [ORDER_SENT]
    assert events == [SlotSet("order_id", None)]
    tracker = turn(ana[0], "where is my order TL-48213?", "order_status", order_id="TL-48213")
    tracker.slots["order_id"] = "TL-48213"
    events, said = await run(ActionOrderStatus(), tracker)  # the owner just gets the answer
    assert said[0].startswith("Your order TL-48213 (1 × Drift Running Shoes) has shipped") and len(outbox) == 1


async def test_the_digits_of_another_customers_order_start_no_claim_and_read_like_any_number(
        services, tools, ana, stranger, outbox):
    """Issue #16: only a full id may start a claim. The bare digits of Ana's order, typed by a
    stranger, are answered as a number nobody has: no code to Ana, no claim, nothing said."""
    from actions.orders import ActionOrderStatus

    await services.db.run(lambda s: setattr(s.get(Order, "TL-48213"), "customer_id", ana[0]))
    for number in ("48213", "99999"):
        events, said = await run(ActionClaimIdentity(), turn(stranger, f"meu pedido é {number}",
                                                             "provide_order_number", order_id=number))
        assert (events, said) == ([], ["utter_got_order_number"])
        tracker = turn(stranger, f"cadê o pedido {number}?", "order_status", order_id=number)
        tracker.slots["order_id"] = number
        events, said = await run(ActionOrderStatus(), tracker)
        assert (events, said) == ([SlotSet("order_id", None)], [
            f"I couldn't find order {number}. Could you check the number? It starts with TL, like TL-48213."])
    assert outbox == []
    assert await services.db.run(lambda s: s.scalars(select(IdentityClaim)).all()) == []


async def test_a_code_that_cannot_be_sent_is_not_announced_and_claims_are_limited(services, tools, stranger, sandbox,
                                                                                 outbox):
    sandbox.faults["sms"].append((400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}))
    events, said = await run(ActionClaimIdentity(), turn(stranger, "I'm +55 21 99876-5432", "provide_contact",
                                                         phone="+5521998765432"))
    assert (events, said) == ([], [identity_claims.NOT_SENT])
    for _ in range(2):  # three claims an hour, the failed one included
        await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact", email="ana@example.com"))
    events, said = await run(ActionClaimIdentity(), turn(stranger, "I'm ana@example.com", "provide_contact",
                                                         email="ana@example.com"))
    assert said == [identity_claims.REFUSED]
    assert len(outbox) == 2


async def test_a_portuguese_customer_is_told_and_sent_the_code_in_portuguese(services, ana, stranger, outbox):
    tracker = turn(stranger, "oi, sou a ana@example.com", "provide_contact", email="ana@example.com")
    tracker.slots["language"] = "pt"
    events, said = await run(ActionClaimIdentity(), tracker)
    assert (events, said) == ([], ["Para vincular a•••@example.com a esta conversa, enviei um código de 6 dígitos "
                                   "para lá. Digite o código aqui em até 10 minutos."])
    [mail] = outbox
    assert mail["Subject"] == "Re: Seu código de verificação da Threadline"
    assert "Seu código de verificação da Threadline é " in mail.get_body(("plain",)).get_content()
