"""Attacks on identity claims, through the claim action as the action server runs it: the real
CRM database, Redis, `ChannelCodeSender` with a real SMTP server and the sandbox WhatsApp/Twilio
provider. What counts is what reached the victim (the SMTP outbox, the sandbox's sent list),
what the attacker was told, and the one log line per refusal.
"""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import date, timedelta

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.asyncio import Redis

from actions import crm_context, identity_claims
from actions.identity_claims import ActionClaimIdentity, ActionVerifyIdentityClaim
from tests.crm.trackers import DOMAIN
from tests.identity.conftest import (  # noqa: F401  (fixtures)
    channel_env, channel_sender, claim_limits, code_sender, outbox, sandbox, services, smtp_server,
)
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import Order
from threadline.crm.models.base import utcnow
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook
from threadline.identity.claim_limits import ClaimLimits, PhoneCountries
from threadline.identity.claims import ClaimIdentity

VICTIM_EMAIL = "victim@example.com"
VICTIM_PHONE = "+5521998765432"
REFUSAL_LOG = "identity claim refused: "
CODE = re.compile(r"verification code is (\d{6})\.")
OUR_LOGGERS = ("threadline", "actions", "connectors")


@pytest.fixture
def crm_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'crm.sqlite3'}"


@pytest.fixture
async def tools(services, channel_sender, claim_limits):
    SeedDemoShop(services.db, date.today())()
    crm_context.use_services(CrmServices(SqlCrm(services.db), SqlOrderBook(services.db)))
    installed = identity_claims.use_claim_tools(services, channel_sender, claim_limits)
    yield installed
    await installed.verify.settle()
    identity_claims.use_claim_tools(None)
    crm_context.use_services(None)


async def instagram_user(services, n: int) -> str:
    return await services.resolver.resolve("instagram", f"1784140000{n:07d}")


def turn(sender_id: str, text: str, intent: str, **entities: str) -> Tracker:
    return Tracker.from_dict({
        "sender_id": sender_id, "slots": {name: None for name in DOMAIN["slots"]},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.95},
                           "entities": [{"entity": k, "value": v, "start": 0, "end": 1} for k, v in entities.items()],
                           "metadata": {"channel": "instagram"}},
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen", "latest_input_channel": "instagram",
    })


async def claim(sender_id: str, **entity: str):
    dispatcher = CollectingDispatcher()
    text = " ".join(entity.values())
    intent = "provide_order_number" if "order_id" in entity else "provide_contact"
    events = await ActionClaimIdentity().run(dispatcher, turn(sender_id, f"it's {text}", intent, **entity), DOMAIN)
    return events, [m.get("text") or m.get("response") for m in dispatcher.messages]


def refusals(caplog) -> list:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(REFUSAL_LOG)]


def assert_no_address_logged(caplog, *addresses: str) -> None:
    """Nothing Threadline logged names the address (the test SMTP server's own log does)."""
    digits = [a.lstrip("+") for a in addresses]
    for record in caplog.records:
        if not record.name.startswith(OUR_LOGGERS):
            continue
        message = record.getMessage()
        assert not any(a in message for a in addresses + tuple(digits)), message


async def test_twelve_claimants_send_at_most_three_codes_to_one_address(services, tools, outbox, caplog):
    caplog.set_level(logging.INFO)
    claimants = [await instagram_user(services, n) for n in range(12)]
    answers = await asyncio.gather(*(claim(c, email=VICTIM_EMAIL) for c in claimants))  # all at once: no race
    assert [m["X-Envelope-To"] for m in outbox] == [VICTIM_EMAIL] * 3
    said = [texts for _, texts in answers]
    assert sorted(said).count([identity_claims.REFUSED]) == 9
    assert refusals(caplog) == [REFUSAL_LOG + "target_limit"] * 9
    assert_no_address_logged(caplog, VICTIM_EMAIL)
    # Everyone else is still served.
    _, told = await claim(await instagram_user(services, 99), email="someone.else@example.com")
    assert told[0].startswith("To link s•••@example.com") and outbox[-1]["X-Envelope-To"] == "someone.else@example.com"


async def test_twelve_claimants_send_at_most_three_sms_to_one_number(services, tools, sandbox, caplog):
    for n in range(12):
        await claim(await instagram_user(services, n), phone=VICTIM_PHONE)
    assert [(m["channel"], m["to"]) for m in sandbox.sent] == [("sms", VICTIM_PHONE)] * 3
    assert refusals(caplog) == [REFUSAL_LOG + "target_limit"] * 9
    assert_no_address_logged(caplog, VICTIM_PHONE)


async def test_the_target_window_slides_open_again_after_an_hour(services, code_sender, claim_limits):
    now = utcnow()
    clock = lambda: now  # noqa: E731
    claimants = [await instagram_user(services, n) for n in range(5)]
    for claimant in claimants[:3]:
        await ClaimIdentity(services.db, code_sender, claim_limits, clock=clock)(claimant, VICTIM_EMAIL)
    with pytest.raises(identity_claims.ClaimRefused):
        await ClaimIdentity(services.db, code_sender, claim_limits, clock=clock)(claimants[3], VICTIM_EMAIL)
    now += timedelta(minutes=61)
    await ClaimIdentity(services.db, code_sender, claim_limits, clock=clock)(claimants[4], VICTIM_EMAIL)
    assert [address for _, address, _ in code_sender.sent] == [VICTIM_EMAIL] * 4


@pytest.mark.parametrize("number", ["+12025550143", "+447911123456", "+351912345678"])
async def test_no_code_to_a_phone_outside_the_allowed_countries(services, tools, sandbox, caplog, number):
    await services.resolver.resolve("whatsapp", number.lstrip("+"))  # a known WhatsApp customer
    events, said = await claim(await instagram_user(services, 1), phone=number)
    # A stranger's number gets the same answer as a customer's: only the country decides.
    _, said_unknown = await claim(await instagram_user(services, 2), phone=number[:-1] + "9")
    assert (events, said) == ([], [identity_claims.PHONE_REFUSED]) and said_unknown == said
    assert sandbox.sent == []
    assert refusals(caplog) == [REFUSAL_LOG + "phone_country"] * 2
    assert_no_address_logged(caplog, number)


async def test_an_order_whose_owner_is_only_reachable_abroad_gets_no_code(services, tools, sandbox, outbox):
    owner = await services.resolver.resolve("sms", "+12025550143")
    await services.db.run(lambda s: setattr(s.get(Order, "TL-48213"), "customer_id", owner))
    events, said = await claim(await instagram_user(services, 1), order_id="TL-48213")
    assert events == [SlotSet("order_id", None)] and said[0].startswith("If order TL-48213 is yours")
    assert sandbox.sent == [] and outbox == []


def test_allowed_countries_come_from_claim_sms_countries(monkeypatch, redis_url):
    monkeypatch.setenv("CLAIM_SMS_COUNTRIES", "br, pt")
    countries = ClaimLimits.from_env(redis_url).phone_countries
    assert countries.allows("+351912345678") and countries.allows(VICTIM_PHONE)
    assert not countries.allows("+12025550143")
    monkeypatch.setenv("CLAIM_SMS_COUNTRIES", "BR,XX")
    with pytest.raises(ValueError, match="XX"):
        ClaimLimits.from_env(redis_url)
    assert PhoneCountries.parse("").regions == {"BR"}


async def test_an_order_claim_reads_the_same_whoever_owns_the_order(services, tools, outbox, caplog):
    """Another customer's order, reachable or not: one neutral answer, nothing about the owner."""
    ana = await services.resolver.resolve("email", "ana@example.com")
    unreachable = await services.resolver.resolve("instagram", "17841499999999999")
    await services.db.run(lambda s: (setattr(s.get(Order, "TL-48213"), "customer_id", ana),
                                     setattr(s.get(Order, "TL-50927"), "customer_id", unreachable)))
    answers = {}
    for n, order_id in enumerate(("TL-48213", "TL-50927")):
        events, said = await claim(await instagram_user(services, n), order_id=order_id)
        answers[order_id] = (events, [text.replace(order_id, "TL-?") for text in said])
    assert len(set(map(repr, answers.values()))) == 1, answers
    events, said = answers["TL-50927"]
    assert events == [SlotSet("order_id", None)]
    assert said == [identity_claims.ORDER_CLAIMED.format(order_id="TL-?", minutes=identity_claims.MINUTES)]
    assert "ana" not in said[0] and "•" not in said[0]  # no owner, not even masked
    assert [m["X-Envelope-To"] for m in outbox] == ["ana@example.com"]  # only the real owner got a code


async def test_an_order_of_nobody_is_just_noted(services, tools, outbox):
    """A customer telling us their order number (a guest order, or one we don't know) is not a
    claim: the bot keeps the number and answers about it; no code goes anywhere."""
    for n, order_id in enumerate(("TL-70315", "TL-99999")):
        events, said = await claim(await instagram_user(services, n), order_id=order_id)
        assert events == [] and said == ["utter_got_order_number"]
    assert outbox == []


async def test_the_limits_do_not_tell_orders_apart_either(services, tools, outbox):
    """Repeating a claim: a reachable owner's target window fills, an unreachable owner has none;
    the claimant's answers (and when they are cut off) must still be the same."""
    ana = await services.resolver.resolve("email", "ana@example.com")
    unreachable = await services.resolver.resolve("instagram", "17841499999999999")
    await services.db.run(lambda s: (setattr(s.get(Order, "TL-48213"), "customer_id", ana),
                                     setattr(s.get(Order, "TL-50927"), "customer_id", unreachable)))
    helper = await instagram_user(services, 50)
    for _ in range(3):  # fills Ana's target window
        await claim(helper, email="ana@example.com")
    transcripts = []
    for n, order_id in enumerate(("TL-48213", "TL-50927")):
        claimant = await instagram_user(services, n)
        said = [(await claim(claimant, order_id=order_id))[1][0].replace(order_id, "TL-?") for _ in range(3)]
        said.append((await claim(claimant, email=f"me{n}@example.com"))[1][0].replace(f"me{n}", "me"))
        transcripts.append(said)
    assert transcripts[0] == transcripts[1]
    assert transcripts[0][-1] == identity_claims.REFUSED  # three claims an hour, whatever they were
    assert len(outbox) == 3  # the helper's three; no fourth code to Ana


async def test_an_overall_cap_holds_across_claimants_and_addresses(services, channel_sender, outbox, caplog,
                                                                   monkeypatch, redis_url, tools):
    monkeypatch.setenv("CLAIM_CODES_PER_HOUR", "5")
    limits = ClaimLimits.from_env(redis_url)
    identity_claims.use_claim_tools(services, channel_sender, limits)
    try:
        said = [(await claim(await instagram_user(services, n), email=f"person{n}@example.com"))[1][0]
                for n in range(7)]
    finally:
        await limits.close()
    assert len(outbox) == 5
    assert said[5:] == [identity_claims.REFUSED] * 2
    assert refusals(caplog) == [REFUSAL_LOG + "overall_limit"] * 2
    assert_no_address_logged(caplog, "person5@example.com", "person6@example.com")


async def test_the_limits_are_kept_without_addresses_in_redis(services, tools, outbox, redis_url):
    await claim(await instagram_user(services, 1), email=VICTIM_EMAIL)
    client = Redis.from_url(redis_url)
    try:
        keys = [key.decode() async for key in client.scan_iter("tl:{claims}:*")]
    finally:
        await client.close(close_connection_pool=True)
    assert len(keys) == 3 and not any("victim" in key for key in keys)


async def test_a_typed_code_gets_the_same_answer_after_any_order_claim(services, tools, outbox):
    """Every order claim leaves one pending code: "is my earlier code still good?" or "is a code
    pending?" must not tell a reachable owner from an unreachable one either."""
    ana = await services.resolver.resolve("email", "ana@example.com")
    unreachable = await services.resolver.resolve("instagram", "17841499999999999")
    await services.db.run(lambda s: (setattr(s.get(Order, "TL-48213"), "customer_id", ana),
                                     setattr(s.get(Order, "TL-50927"), "customer_id", unreachable)))
    answers = []
    for n, order_id in enumerate(("TL-48213", "TL-50927")):
        claimant = await instagram_user(services, n)
        await claim(claimant, email=f"me{n}@example.com")
        earlier_code = CODE.search(outbox[-1].get_body(("plain",)).get_content()).group(1)
        await claim(claimant, order_id=order_id)
        dispatcher = CollectingDispatcher()
        await ActionVerifyIdentityClaim().run(dispatcher, turn(claimant, earlier_code, "provide_code"), DOMAIN)
        answers.append(dispatcher.messages[0]["text"])
    assert answers == ["That code isn't right. You have 4 more tries."] * 2


async def test_a_rest_sender_can_never_claim_an_address(services, tools, outbox, caplog):
    # The REST channel has no authentication (connectors/rest.py): whatever it names, no code.
    caplog.set_level(logging.WARNING, logger="actions")
    events, told = await claim("rest:anyone", email=VICTIM_EMAIL)
    assert outbox == [] and events == [SlotSet("order_id", None)]
    assert told == [identity_claims.UNVERIFIED_CHANNEL]
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "action_claim_identity refused: the REST channel is not authenticated"]
