"""No template ever leaks (issue #15): every text a customer can read is checked with the values
it may lack, and fails on `None`, `null`, braces, format syntax or an internal name
(tests/responses/leaks.py).

1. Every response of domain.yml, every variation, through Rasa's own
   TemplatedNaturalLanguageGenerator: for each channel and language, with every slot absent,
   each variation Rasa may pick is rendered; a variable is given a value only when every way
   the response is said passes it (the actions' `utter_message(response=..., name=...)`; the
   follow-up worker's rules, which fill it from the item's context and send nothing when a value
   is missing; a rule, story or form says it with slots only). An absent slot must choose
   another wording.
2. Every message of threadline/i18n's catalogue, in English and Portuguese (singular and
   plural), formatted as the code formats it.
3. The actions themselves, run against a real CRM database with slots absent and with the CRM
   states that lack a value (a case about no order, a promise no longer open, a lead about a plan,
   the CRM away), each twice in a row, in both languages and on several channels:
   every text and button they send, and every response they name rendered as Rasa would.

The totals are printed (`pytest -s`): the designers' guide quotes them.
"""
from __future__ import annotations

import ast
import copy
import itertools
from collections import Counter
from datetime import date
from pathlib import Path
from string import Formatter
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from babel.messages.pofile import read_po
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.nlg.generator import ResponseVariationFilter
from rasa.shared.core.domain import Domain
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import ActionAskWhichIntent
from actions.crm_context import add_business_days
from actions.handoff import ActionDefaultFallback, ActionHandoff
from actions.language import ActionAnswerOtherLanguage
from actions.orders import ActionOrderStatus
from actions.products import ActionProductInfo
from actions.sales import ActionRegisterLead
from actions.session import ActionSessionStart
from actions.support import NEXT_STEPS, ActionOpenCase
from tests.crm.conftest import crm, database  # noqa: F401  (the CRM fixtures, on SQLite here)
from tests.crm.trackers import tracker
from tests.responses.leaks import internal_names, leaks
from threadline.crm.interface import CrmUnavailable
from threadline.followups.rules import DEFAULT_PATH as FOLLOWUP_RULES, PARAMETERS, load_rules
from threadline.i18n import texts_for
from threadline.i18n.catalogue import LOCALE_DIR
from threadline.settings import PROJECT_DIR

DOMAIN = Domain.load(str(PROJECT_DIR / "domain.yml"))
DOMAIN_DICT = DOMAIN.as_dict()
RESPONSES: Dict[str, List[Dict[str, Any]]] = DOMAIN.responses
NAMES = internal_names(DOMAIN)
# The connectors' channels, and Rasa's REST channel (no variants of its own).
CHANNELS = ("whatsapp", "instagram", "sms", "email", "rcs", "webchat", "rest")
LANGUAGES = (None, "en", "pt")
NO_SLOTS = {slot.name: None for slot in DOMAIN.slots}
CHECKED: Counter = Counter()  # texts checked, by part
DISTINCT: Dict[str, set] = {}  # the different texts among them, by part


@pytest.fixture(scope="module", autouse=True)
def totals():
    yield
    distinct = {part: len(texts) for part, texts in DISTINCT.items()}
    print(f"\nleak check: {sum(CHECKED.values())} texts checked, {sum(distinct.values())} different "
          f"(checked {dict(CHECKED)}, different {distinct})")


@pytest.fixture
def crm_url(tmp_path):
    """The CRM on SQLite only: the backends' parity is tests/crm's business, not this check's."""
    return f"sqlite:///{tmp_path / 'crm.sqlite3'}"


def check(part: str, where: Any, text: Optional[str]) -> List[str]:
    CHECKED[part] += 1
    DISTINCT.setdefault(part, set()).add(text)
    return [f"{where}: {leak} in {text!r}" for leak in leaks(text or "", NAMES)] + (
        [] if text else [f"{where}: an empty text"])


def test_the_leak_detector_finds_each_kind_of_leak():
    for leaked in ("I've opened case #1 about order None: ...", "contact you at null", "order {order_id}",
                   "Hello %(name)s", "Did you mean 'order_status'?", "utter_greet", "1. /order_status",
                   "Thanks, I've noted order {order_id}.", "Which one: refund_request?"):
        assert leaks(leaked, NAMES), leaked
    for clean in ("I've opened case #1: our team will sort out the payment by Thu 3 Dec.", "R$ 499,00",
                  "Reply with the number of your choice.", "Details: threadline.example/club", "*Delivery times* 🚚",
                  "Where my order is", "05/12 (sexta-feira)"):
        assert leaks(clean, NAMES) == [], clean


# 1. Responses ------------------------------------------------------------------------------

def said_by_the_dialogue() -> set[str]:
    """Responses a rule, story or form says (with slots only, no values passed)."""
    data = "\n".join(p.read_text() for p in (PROJECT_DIR / "data").rglob("*.yml")
                     if p.resolve() != FOLLOWUP_RULES.resolve())  # the follow-up worker's, not the dialogue's
    asked = {f"utter_ask_{slot}" for form in DOMAIN.forms.values() for slot in form.get("required_slots", [])}
    return {name for name in RESPONSES if name in data} | asked | {"utter_default", "utter_ask_rephrase"}


def values_the_actions_pass() -> Dict[str, set[str]]:
    """response → the variables every `utter_message(response=...)` of actions/ passes with it."""
    passed: Dict[str, set[str]] = {}
    for path in (PROJECT_DIR / "actions").glob("*.py"):
        for call in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "utter_message"):
                continue
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            named = {n.value for n in ast.walk(keywords["response"]) if isinstance(n, ast.Constant)
                     and n.value in RESPONSES} if "response" in keywords else set()
            values = set(keywords) - {"response", "text", "buttons", "image", "json_message", "attachment", "elements"}
            for name in named:
                passed[name] = passed[name] & values if name in passed else values
    return passed


def values_the_followups_pass() -> Dict[str, set[str]]:
    """response → the variables the follow-up worker fills it with: its context fields, each
    guaranteed present, since `fill` refuses a message whose value is missing (MissingContext)."""
    return {rule.response: set(PARAMETERS) for rule in load_rules().kinds.values() if rule.response}


def variables(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def guaranteed_values() -> Dict[str, Dict[str, str]]:
    """response → {variable: a value} for the variables passed wherever the response is said."""
    dialogue, passed = said_by_the_dialogue(), values_the_actions_pass()
    for name, values in values_the_followups_pass().items():
        passed[name] = passed[name] & values if name in passed else values
    return {name: {v: f"Sample {v.split('_')[0]}" for v in passed.get(name, set())}
            for name in RESPONSES if name not in dialogue}


def renderings() -> Iterator[Tuple[str, str, Optional[str], Dict[str, Any]]]:
    """(response, channel, language, variation) for every variation Rasa may pick with every slot
    absent, and every variation under its own condition (so none goes unrendered)."""
    for name, variations in RESPONSES.items():
        for channel, language in itertools.product(CHANNELS, LANGUAGES):
            slots = {**NO_SLOTS, "language": language}
            for variation in ResponseVariationFilter(RESPONSES).responses_for_utter_action(name, channel, slots):
                yield name, channel, language, variation
        for variation in variations:
            conditions = {c["name"]: c["value"] for c in variation.get("condition") or []}
            yield name, variation.get("channel") or "rest", conditions.get("language"), variation


def test_every_response_variation_renders_without_a_leak_when_slots_are_absent():
    values = guaranteed_values()
    found, rendered = [], 0
    for name, channel, language, variation in renderings():
        conditions = {c["name"]: c["value"] for c in variation.get("condition") or []}
        slots = {**NO_SLOTS, "language": language, **conditions}
        message = TemplatedNaturalLanguageGenerator({name: [copy.deepcopy(variation)]}).generate_from_slots(
            name, slots, channel, **values.get(name, {}))
        texts = [message.get("text")] + [b.get("title") for b in message.get("buttons") or []]
        for text in texts:
            found += check("responses", (name, channel, language), text)
        rendered += 1
    assert rendered >= sum(len(v) for v in RESPONSES.values())
    assert found == []


def test_a_response_whose_slot_may_be_absent_is_caught():
    """The check is not blind: a response using a slot that no caller guarantees leaks."""
    variation = {"text": "Thanks! A colleague will contact you at {email} shortly."}
    message = TemplatedNaturalLanguageGenerator({"utter_x": [variation]}).generate_from_slots(
        "utter_x", dict(NO_SLOTS), "whatsapp")
    assert leaks(message["text"]) == ["an absent value: 'None'"]


# 2. The catalogue --------------------------------------------------------------------------

SAMPLE_DAY = date(2026, 12, 4)


def samples(language: Optional[str]) -> Dict[str, Any]:
    """A value of the kind the code passes, for each placeholder of the catalogue."""
    texts = texts_for(language)
    return {
        "order": "TL-48213", "order_id": "TL-48213", "number": "48213", "case": "7", "tries": 2, "minutes": 10,
        "code": "482 113", "day": texts.date(SAMPLE_DAY), "step": texts.gettext(NEXT_STEPS["invoice"][0]),
        "status": texts.gettext("Your {item} was cancelled.").format(item="TL-48213"),
        "item": texts.gettext("order {order} ({quantity} × {product})").format(
            order="TL-48213", quantity=texts.number(1), product="Drift Running Shoes"),
        "quantity": texts.number(2), "product": "Drift Running Shoes", "name": "Drift Running Shoes",
        "plan": "Club Plus", "price": texts.money(499, "BRL"), "stock": texts.number(18),
        "carrier": texts.gettext(" with {carrier}").format(carrier="Correios"),
        "due": texts.gettext(" and should arrive by {day}").format(day=texts.date(SAMPLE_DAY)),
        "back": texts.gettext("; more arrive by {day}").format(day=texts.date(SAMPLE_DAY)),
        "channel": "WhatsApp", "where": texts.gettext(", on {channel},").format(channel="WhatsApp"),
        "news": texts.gettext("It's in stock, at {price}.").format(price=texts.money(499, "BRL")),
        "count": texts.number(2), "names": "Club Basic, Club Plus",
        "what": texts.gettext("phone number"), "masked": "+55 11 9****-4321", "address": "a***@example.com",
        "choice": "4 - Bom" if language == "pt" else "4 - Good",  # the CSAT link page's option title
    }


def catalogue_texts() -> Iterator[Tuple[str, str]]:
    """(language, text) for every message, in English (its msgid) and Portuguese, each plural form."""
    with (LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "threadline.po").open("rb") as po:
        catalogue = read_po(po, locale="pt_BR")
    for message in catalogue:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            singular, plural = message.id
            for language, count in itertools.product(("en", "pt"), (1, 2)):
                yield language, texts_for(language).ngettext(singular, plural, count)
        else:
            for language in ("en", "pt"):
                yield language, texts_for(language).gettext(message.id)


def test_every_catalogue_message_renders_without_a_leak_in_both_languages():
    found = []
    for language, template in catalogue_texts():
        values = samples(language)
        missing = variables(template) - set(values)
        assert not missing, f"no sample value for {missing} of {template!r}: add one to samples()"
        found += check("catalogue", language, template.format(**values))
    assert found == []


# 3. The actions, with what they may lack ---------------------------------------------------

LANGUAGES_SPOKEN = (None, "pt")
ACTION_CHANNELS = ("whatsapp", "sms", "email")


def rendered(message: Dict[str, Any], slots: Dict[str, Any], channel: str) -> List[str]:
    """What the customer reads of one dispatched message: its text, or the response it names
    rendered by Rasa with the tracker's slots and the values passed; and its button titles."""
    texts = [message.get("text")] if message.get("text") else []
    if message.get("response"):
        extra = {k: v for k, v in message.items()
                 if k not in ("text", "buttons", "elements", "custom", "template", "response", "image", "attachment")}
        generated = TemplatedNaturalLanguageGenerator(RESPONSES).generate_from_slots(
            message["response"], slots, channel, **extra)
        texts.append(generated.get("text") if generated else None)
    return texts + [b.get("title") for b in message.get("buttons") or []]


async def run_twice(action: Action, slots: Dict[str, Any], **context) -> List[str]:
    """Every leak of `action` said twice in a row (the second time finds what the first made)."""
    found = []
    for language, channel, turn in itertools.product(LANGUAGES_SPOKEN, ACTION_CHANNELS, (1, 2)):
        all_slots = {**NO_SLOTS, **slots, "language": language}
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, tracker(all_slots, channel=channel, **context), DOMAIN_DICT)
        for message in dispatcher.messages:
            for text in rendered(message, all_slots, channel):
                found += check("actions", (action.name(), slots, language, channel, turn), text)
    return found


async def crm_down(crm, monkeypatch):  # noqa: F811
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("CRM database: OperationalError")

    for store in (crm.crm, crm.orders):
        for name in ("profile", "open_case", "make_promise", "touch_opportunity", "order", "matching", "product"):
            if hasattr(store, name):
                monkeypatch.setattr(store, name, down)


@pytest.mark.parametrize("topic", [*NEXT_STEPS, None])
@pytest.mark.parametrize("order_id", [None, "TL-50927"])
async def test_open_case_says_no_absent_value(crm, topic, order_id):  # noqa: F811
    assert await run_twice(ActionOpenCase(), {"case_topic": topic, "order_id": order_id}, intent="payment_problem") == []


async def test_open_case_with_the_crm_away_says_no_absent_value(crm, monkeypatch):  # noqa: F811
    await crm_down(crm, monkeypatch)
    for order_id in (None, "TL-50927"):
        assert await run_twice(ActionOpenCase(), {"case_topic": "payment_problem", "order_id": order_id}) == []


@pytest.mark.parametrize("order_id", [
    None, "TL-48213", "TL-70315", "TL-99999", "48213"])
async def test_order_status_says_no_absent_value(crm, order_id):  # noqa: F811
    assert await run_twice(ActionOrderStatus(), {"order_id": order_id}) == []


@pytest.mark.parametrize("product", [
    None, "Drift Running Shoes", "harbor rain jacket", "Club Plus", "Flux Capacitor"])
async def test_product_info_says_no_absent_value(crm, product):  # noqa: F811
    assert await run_twice(ActionProductInfo(), {"product": product}, intent="product_price") == []


async def test_order_and_product_with_the_crm_away_say_no_absent_value(crm, monkeypatch):  # noqa: F811
    await crm_down(crm, monkeypatch)
    assert await run_twice(ActionOrderStatus(), {"order_id": "TL-48213"}) == []
    assert await run_twice(ActionProductInfo(), {"product": "Drift Running Shoes"}) == []


@pytest.mark.parametrize("slots", [
    {}, {"product": "Atlas Office Chair", "quantity": "3"}, {"product": "Flux Capacitor"}, {"plan": "Club Plus"}])
async def test_register_lead_and_what_follows_it_leak_nothing_without_a_contact(crm, slots):  # noqa: F811
    form = [{"event": "active_loop", "name": "sales_qualification_form"}, {"event": "active_loop", "name": None}]
    assert await run_twice(ActionRegisterLead(), slots, events=form) == []
    # What the rules say after it: utter_lead_registered, with the contact slots absent.
    for language, channel in itertools.product(LANGUAGES_SPOKEN, ACTION_CHANNELS):
        all_slots = {**NO_SLOTS, **slots, "language": language}
        for text in rendered({"response": "utter_lead_registered"}, all_slots, channel):
            assert check("actions", ("utter_lead_registered", slots, language, channel), text) == []


async def test_session_start_says_no_absent_value_whatever_the_crm_holds(crm):  # noqa: F811
    assert await run_twice(ActionSessionStart(), {}, sender_id="cus_nobody") == []
    await crm.crm.touch_opportunity("cus_plan", plan="Club Plus", channel="instagram")
    assert await run_twice(ActionSessionStart(), {}, sender_id="cus_plan") == []
    case, _ = await crm.crm.open_case("cus_case", "complaint", None, None)  # no order, no promise
    assert await run_twice(ActionSessionStart(), {}, sender_id="cus_case") == []
    await crm.crm.make_promise("cus_case", "get back to you", add_business_days(date.today(), 1), case.id)
    await crm.crm.open_case("cus_case", "late_order", "TL-48213", "sms")
    assert await run_twice(ActionSessionStart(), {}, sender_id="cus_case") == []


async def test_handoff_and_fallback_say_no_absent_value(crm):  # noqa: F811
    assert await run_twice(ActionHandoff(), {}, intent="request_human") == []
    assert await run_twice(ActionDefaultFallback(), {}, intent="nlu_fallback") == []
    other = [{"event": "user", "parse_data": {"intent": {"name": "other_language"}}}] * 2
    assert await run_twice(ActionAnswerOtherLanguage(), {}, sender_id="cus_es", intent="other_language") == []
    assert await run_twice(ActionAnswerOtherLanguage(), {}, sender_id="cus_es2", intent="other_language",
                           events=other) == []


# The clarify question, for every intent the NLU may rank first or second.

def ranking(*names: str) -> List[Dict[str, Any]]:
    return [{"name": name, "confidence": 0.4 - 0.1 * i} for i, name in enumerate(names)]


@pytest.mark.parametrize("intent", DOMAIN.intents)
async def test_the_clarify_question_never_shows_an_internal_name(intent):
    """Offered alone on every channel and with each other intent on WhatsApp (reply buttons),
    SMS and email (numbered: their titles are what the customer reads), in both languages."""
    found = []
    alone = itertools.product([None], LANGUAGES, CHANNELS)
    paired = itertools.product([i for i in DOMAIN.intents if i != intent], LANGUAGES_SPOKEN, ("whatsapp", "sms", "email"))
    for other, language, channel in itertools.chain(alone, paired):
        slots = {**NO_SLOTS, "language": language}
        latest = tracker(slots, channel=channel, intent="nlu_fallback")
        latest.latest_message["intent_ranking"] = ranking(*([intent] if other is None else [intent, other]))
        dispatcher = CollectingDispatcher()
        await ActionAskWhichIntent().run(dispatcher, latest, DOMAIN_DICT)
        for message in dispatcher.messages:
            for text in rendered(message, slots, channel):
                found += check("clarify", (intent, other, language, channel), text)
            found += [f"{intent}: a button shows {b['title']!r}" for b in message.get("buttons") or []
                      if b["title"] in DOMAIN.intents]
    assert found == []
