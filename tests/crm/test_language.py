"""The customer's language: slot -> CRM when it changes, CRM -> slot on a new session, and the
agent's `customers set-language` command."""
from __future__ import annotations

from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionAnswerOtherLanguage, ActionValidateSlotMappings
from actions.session import ActionSessionStart
from tests.crm.trackers import DOMAIN, tracker
from threadline.cli.main import main as cli
from threadline.crm.interface import CrmUnavailable
from threadline.crm.models import Customer



def language_of(database, customer_id: str):
    return database.transaction(lambda s: getattr(s.get(Customer, customer_id), "language", None))


def after_message(detected, slot=None):
    """The tracker action_validate_slot_mappings gets after a message the NLU found `detected` in."""
    t = tracker({"language": slot}, text="obg")
    if detected:
        t.latest_message["language"] = detected
    return t


async def validate(t):
    return await ActionValidateSlotMappings().run(CollectingDispatcher(), t, DOMAIN)


async def test_a_new_language_switches_the_slot_and_is_written_to_the_crm(database, crm):
    assert await validate(after_message("pt", slot="en")) == [SlotSet("language", "pt")]
    assert language_of(database, "cus_ana") == "pt"


async def test_the_same_language_again_changes_nothing(database, crm, monkeypatch):
    async def must_not_write(*_args):
        raise AssertionError("unchanged language written")

    monkeypatch.setattr(crm.crm, "set_customer_language", must_not_write)
    assert await validate(after_message("pt", slot="pt")) == []


async def test_a_message_without_language_keeps_the_slot(database, crm):
    assert await validate(after_message(None, slot="pt")) == []
    assert language_of(database, "cus_ana") is None


async def test_a_language_we_do_not_speak_keeps_the_slot(database, crm):
    assert await validate(after_message("es", slot="pt")) == []
    assert language_of(database, "cus_ana") is None


async def test_the_slot_switches_even_when_the_crm_is_down(database, crm, monkeypatch):
    async def down(*_args):
        raise CrmUnavailable("CRM database: OperationalError")

    monkeypatch.setattr(crm.crm, "set_customer_language", down)
    assert await validate(after_message("pt")) == [SlotSet("language", "pt")]


async def test_a_new_session_restores_the_language_from_the_crm(database, crm):
    await crm.crm.set_customer_language("cus_new", "pt")
    events = await ActionSessionStart().run(CollectingDispatcher(), tracker({}, sender_id="cus_new"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("language", "pt"), ActionExecuted("action_listen")]
    assert (await crm.crm.profile("cus_new")).language == "pt"


async def test_the_crm_language_wins_over_the_carried_slot(database, crm):
    await crm.crm.set_customer_language("cus_new", "pt")  # an agent changed it meanwhile
    events = await ActionSessionStart().run(
        CollectingDispatcher(), tracker({"language": "en"}, sender_id="cus_new"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("language", "en"), SlotSet("language", "pt"),
                      ActionExecuted("action_listen")]


async def test_the_carried_slot_alone_when_the_crm_agrees(database, crm):
    await crm.crm.set_customer_language("cus_new", "pt")
    events = await ActionSessionStart().run(
        CollectingDispatcher(), tracker({"language": "pt"}, sender_id="cus_new"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("language", "pt"), ActionExecuted("action_listen")]


def test_an_agent_sets_the_language_from_the_cli(database, crm, crm_url, monkeypatch, capsys):
    monkeypatch.setenv("CRM_DATABASE_URL", crm_url)
    database.transaction(lambda s: s.add(Customer(id="cus_ana")))
    assert cli(["customers", "set-language", "cus_ana", "pt", "--json"]) == 0
    assert '"language": "pt"' in capsys.readouterr().out
    assert language_of(database, "cus_ana") == "pt"
    assert cli(["customers", "set-language", "cus_nobody", "en"]) == 1
    assert "no customer cus_nobody" in capsys.readouterr().err


async def test_a_merged_id_sets_the_language_of_the_customer_it_was_merged_into(database, crm):
    def merged(session):
        session.add(Customer(id="cus_kept"))
        session.flush()
        session.add(Customer(id="cus_old", merged_into="cus_kept"))

    database.transaction(merged)
    await crm.crm.set_customer_language("cus_old", "pt")
    assert (language_of(database, "cus_kept"), language_of(database, "cus_old")) == ("pt", None)


SPANISH = {"event": "user", "text": "hola, donde esta mi pedido?", "timestamp": 1.0,
           "parse_data": {"intent": {"name": "other_language"}}, "input_channel": "whatsapp"}


async def test_a_language_we_do_not_speak_is_answered_with_the_languages_we_speak(database, crm):
    dispatcher = CollectingDispatcher()
    t = tracker({"language": "pt"}, intent="other_language", text="hola", events=[SPANISH])
    events = await ActionAnswerOtherLanguage().run(dispatcher, t, DOMAIN)
    assert (events, [m["response"] for m in dispatcher.messages]) == ([], ["utter_languages_spoken"])
    assert not await crm.crm.has_open_handoff("cus_ana")


async def test_a_second_message_in_that_language_brings_a_person(database, crm):
    dispatcher = CollectingDispatcher()
    turns = [SPANISH, {"event": "bot", "text": "...", "timestamp": 2.0},
             {**SPANISH, "text": "no entiendo", "timestamp": 3.0}]
    t = tracker(intent="other_language", text="no entiendo", events=turns)
    events = await ActionAnswerOtherLanguage().run(dispatcher, t, DOMAIN)
    assert events == [ConversationPaused()]
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff"]
    assert await crm.crm.has_open_handoff("cus_ana")
