"""A new customer whose message has no language we speak starts in THREADLINE_DEFAULT_LANGUAGE
(threadline/language/default.py), set by action_validate_slot_mappings as `make run` runs it."""
from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.language
from actions.language import ActionValidateSlotMappings
from tests.crm.trackers import DOMAIN, tracker
from threadline.language.default import default_language


@pytest.fixture(autouse=True)
def no_crm(monkeypatch):
    async def must_not_be_asked():
        raise AssertionError("a guessed language is not the customer's: the CRM must not get it")

    monkeypatch.setattr(actions.language, "services", must_not_be_asked)


async def slot_events(detected, slot=None):
    t = tracker({"language": slot}, text="TL-48213")
    if detected:
        t.latest_message["language"] = detected
    return await ActionValidateSlotMappings().run(CollectingDispatcher(), t, DOMAIN)


@pytest.mark.parametrize("detected", [None, "es"])
async def test_a_new_customer_without_a_spoken_language_is_answered_in_portuguese(monkeypatch, detected):
    monkeypatch.delenv("THREADLINE_DEFAULT_LANGUAGE", raising=False)
    assert await slot_events(detected) == [SlotSet("language", "pt")]


async def test_the_default_is_a_setting(monkeypatch):
    monkeypatch.setenv("THREADLINE_DEFAULT_LANGUAGE", " EN ")
    assert await slot_events(None) == [SlotSet("language", "en")]


@pytest.mark.parametrize("slot", ["en", "pt"])
async def test_a_known_customer_keeps_their_language(monkeypatch, slot):
    monkeypatch.setenv("THREADLINE_DEFAULT_LANGUAGE", "pt")
    assert await slot_events(None, slot=slot) == []


def test_a_language_we_do_not_speak_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("THREADLINE_DEFAULT_LANGUAGE", "es")
    with pytest.raises(ValueError, match="THREADLINE_DEFAULT_LANGUAGE must be one of en, pt, not 'es'"):
        default_language()
