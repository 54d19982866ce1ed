"""action_session_start while a handoff is open: paused again, and no greeting from the bot."""
from __future__ import annotations

from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.products import ActionProductInfo
from actions.session import ActionSessionStart
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.models import Handoff
from threadline.handoff.store import OpenHandoff


async def test_a_new_session_during_a_handoff_stays_paused_and_silent(database, crm):
    # A returning customer: without the handoff the bot would greet them with the product news.
    await ActionProductInfo().run(CollectingDispatcher(), tracker({"product": "Drift Running Shoes"}), DOMAIN)
    opened = await OpenHandoff(database)("cus_ana", reason="complaint", channel="whatsapp",
                                         summary_text="", summary={})
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker({}, channel="sms"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("product", "Drift Running Shoes"), ConversationPaused(),
                      ActionExecuted("action_listen")]
    assert dispatcher.messages == []

    def hand_back(session):
        session.get(Handoff, opened.handoff.id).status = "resolved"

    database.transaction(hand_back)
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker({}, channel="sms"), DOMAIN)
    assert ConversationPaused() not in events
    assert [m["text"] for m in dispatcher.messages] == [
        "Welcome back! Last time, on WhatsApp, you asked about the Drift Running Shoes. It's in stock, at BRL 499.00."]
