"""`action_stop_contact` / `action_allow_contact` against a real CRM database (SQLite and
PostgreSQL): "stop messaging me" on any channel is recorded where the follow-up guards read it,
"you can message me again" lifts it, and a CRM that cannot record it is never said to have."""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.contact_preferences import ActionAllowContact, ActionStopContact
from tests.crm.conftest import crm  # noqa: F401  (the actions' CRM on this file's database)
from tests.crm.trackers import DOMAIN, tracker
from tests.support.crm_outage import crm_outage
from threadline.crm.models import Customer
from threadline.crm.models.base import utcnow
from threadline.crm.models.followups import CustomerOptOut
from threadline.crm.opt_outs import opted_out, record_opt_out


async def say(action, *, text: str, intent: str, channel: str = "whatsapp", language=None,
              sender_id: str = "cus_ana"):
    """The response the customer gets (one message) and the events the action returns."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker({"language": language}, sender_id=sender_id, channel=channel,
                                                  intent=intent, text=text), DOMAIN)
    [message] = dispatcher.messages
    return message["response"], events


def opt_outs_of(database, customer_id: str) -> list:
    return database.transaction(lambda s: [(r.channel, r.source) for r in s.scalars(
        select(CustomerOptOut).where(CustomerOptOut.customer_id == customer_id).order_by(CustomerOptOut.id))])


async def stop(**where):
    return await say(ActionStopContact(), text="stop messaging me", intent="stop_contact", **where)


async def allow(**where):
    return await say(ActionAllowContact(), text="you can message me again", intent="allow_contact", **where)


async def test_stop_messaging_me_on_whatsapp_opts_out_of_every_channel(crm, database):  # noqa: F811
    assert await stop() == ("utter_contact_stopped", [])
    assert opt_outs_of(database, "cus_ana") == [("*", "request")]
    # What the follow-up guards read, whatever channel the follow-up would go on.
    for channel in ("whatsapp", "sms", "email", "instagram", "rcs", "webchat", None):
        assert database.transaction(lambda s: opted_out(s, "cus_ana", channel)), channel


async def test_saying_it_again_in_portuguese_by_email_keeps_one_record(crm, database):  # noqa: F811
    await stop()
    response, events = await say(ActionStopContact(), text="pare de me mandar mensagem", intent="stop_contact",
                                 channel="email", language="pt")
    assert (response, events) == ("utter_contact_stopped", [])
    assert opt_outs_of(database, "cus_ana") == [("*", "request")]


async def test_you_can_message_me_again_lifts_it_but_not_the_sms_stop(crm, database):  # noqa: F811
    await stop(channel="instagram")
    # The customer had also texted STOP: the carrier's record, lifted only by START.
    database.transaction(lambda s: record_opt_out(s, "cus_ana", "sms", "sms_stop", utcnow()))
    assert await allow(channel="whatsapp", language="pt") == ("utter_contact_allowed", [])
    assert opt_outs_of(database, "cus_ana") == [("sms", "sms_stop")]
    assert not database.transaction(lambda s: opted_out(s, "cus_ana", "whatsapp"))
    assert database.transaction(lambda s: opted_out(s, "cus_ana", "sms"))


async def test_a_merged_away_customer_opts_out_their_surviving_customer(crm, database):  # noqa: F811
    def merged(session):
        session.add_all([Customer(id="cus_survivor"), Customer(id="cus_old")])
        session.flush()
        session.get(Customer, "cus_old").merged_into = "cus_survivor"
    database.transaction(merged)
    await stop(sender_id="cus_old")
    assert opt_outs_of(database, "cus_survivor") == [("*", "request")]
    assert opt_outs_of(database, "cus_old") == []


async def test_a_crm_that_cannot_record_it_says_so_and_records_nothing(crm, database, crm_url):  # noqa: F811
    with crm_outage(crm_url):
        assert await stop() == ("utter_contact_preference_not_saved", [])
    assert opt_outs_of(database, "cus_ana") == []
