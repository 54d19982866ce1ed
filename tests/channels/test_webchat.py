"""Web chat through the scripted stack (the real channel in the Rasa-shaped server, an inbox
worker answering, real Redis and CRM): numbered entries both ways, replay after a reconnect
with nothing lost or doubled, every tab of a customer, and the bad input of the issue, each
refused with its close code while no other conversation's message reaches that socket."""
from __future__ import annotations

import pytest

from tests.channels.conftest import scripted_env
from tests.support.webchat import SECRET, open_widget, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return webchat_env(scripted_env(redis_server, tmp_path_factory))


async def test_anonymous_visitor_chats_and_a_reconnect_replays_what_it_missed(bot):
    widget = await open_widget(bot, visitor=None)
    welcome = await widget.welcome()
    assert welcome["visitor"] and welcome["reset"] and not welcome["verified"]
    sent = await widget.say("hello there")
    await wait_for(lambda: "You said: hello there" in widget.texts(), timeout=15)
    ack = next(f for f in widget.frames if f["type"] == "ack")
    assert ack["id"] == sent and ack["seq"] == 1
    assert [(e["seq"], e["from"]) for e in widget.entries()] == [(1, "customer"), (2, "bot")]
    await widget.close()

    # Offline meanwhile: the bot's answer to a message of another tab arrives while this one
    # is away; back with the last number it had, it gets exactly what it missed.
    other_tab = await open_widget(bot, visitor=welcome["visitor"], after=2)
    await other_tab.say("second message")
    await wait_for(lambda: "You said: second message" in other_tab.texts(), timeout=15)
    await other_tab.close()
    back = await open_widget(bot, visitor=welcome["visitor"], after=1)
    await back.say("third")
    # Entries come in order: once the answer to "third" is here, any double would be too.
    await wait_for(lambda: "You said: third" in back.texts(), timeout=15)
    assert [e["seq"] for e in back.entries()] == [2, 3, 4, 5, 6]
    assert back.texts() == ["You said: hello there", "second message", "You said: second message",
                            "third", "You said: third"]
    assert not (await back.welcome())["reset"]
    await back.close()


async def test_a_resent_message_is_stored_and_answered_once(bot, store):
    widget = await open_widget(bot, visitor=None)
    visitor = (await widget.welcome())["visitor"]
    await widget.say("only once", client_id="m-1")
    await wait_for(lambda: "You said: only once" in widget.texts(), timeout=15)
    await widget.close()
    # The ack was lost: the widget sends the same message again after reconnecting.
    again = await open_widget(bot, visitor=visitor, after=0)
    await again.say("only once", client_id="m-1")
    await wait_for(lambda: any(f["type"] == "ack" for f in again.frames))
    assert next(f for f in again.frames if f["type"] == "ack")["seq"] == 1
    # The customer's turns run in order: a second turn for the re-sent message would answer
    # before this one does.
    await again.say("next")
    await wait_for(lambda: "You said: next" in again.texts(), timeout=15)
    assert again.texts().count("only once") == 1
    assert again.texts().count("You said: only once") == 1
    await again.close()


async def test_every_tab_of_the_customer_gets_the_answer(bot):
    first = await open_widget(bot, visitor=None)
    visitor = (await first.welcome())["visitor"]
    second = await open_widget(bot, visitor=visitor, after=0)
    await second.welcome()
    await first.say("from tab one")
    for tab in (first, second):
        await wait_for(lambda: "You said: from tab one" in tab.texts(), timeout=15)
    await first.close()
    await second.close()


async def test_an_agents_reply_reaches_the_open_widget_with_their_name(bot, identity, channel_env):
    """What Rasa's HTTP API does with an agent's message (`execute_side_effects`, output
    channel "webchat"; threadline/handoff/agent_operations.py): the channel's output for the
    customer, from outside any bot turn."""
    from redis.asyncio import Redis

    from connectors.webchat import WebchatOutput
    from connectors.webchat.tokens import VisitorTokens
    from connectors.webhook.records import ChannelRecords
    from connectors.webhook.runtime import ChannelRuntime

    widget = await open_widget(bot, visitor=None)
    await widget.say("I want a person")
    await wait_for(lambda: "You said: I want a person" in widget.texts(), timeout=15)
    address = VisitorTokens(SECRET).address((await widget.welcome())["visitor"])
    customer_id = await identity.resolve("webchat", address)
    redis = Redis.from_url(channel_env["REDIS_URL"])
    output = WebchatOutput(ChannelRuntime(redis=redis, records=ChannelRecords(redis), resolver=identity))
    await output.send_text_message(customer_id, "Hi, Carla here. Let me check.", sent_by="agent",
                                   agent_id="agt_1", agent_name="Carla")
    entry = await wait_for(lambda: next((e for e in widget.entries() if e["from"] == "agent"), None))
    assert (entry["text"], entry["agent"], entry["seq"]) == ("Hi, Carla here. Let me check.", "Carla", 3)
    await redis.close()
    await widget.close()
