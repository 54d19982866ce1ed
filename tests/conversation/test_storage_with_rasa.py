"""The stores inside Rasa's real message processing, with the trained starter model.

Needs `models/threadline.tar.gz` (`make train`; `make test` trains first). The model is
loaded once; each "server" is its own Agent and MessageProcessor with its own tracker store,
lock store and Redis connections, sharing only the read-only trained graph.
"""
from __future__ import annotations

import asyncio
import copy
import json
from urllib.parse import urlparse

import pytest
from rasa.core.agent import Agent
from rasa.core.channels import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import RedisTrackerStore, TrackerStore
from rasa.shared.core.events import ConversationPaused

from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.tracker_store import CustomerTrackerStore

MESSAGES = ["hello", "thanks a lot", "are you a bot?", "hi there", "thank you!"]
TWO_HOURS = 7200


@pytest.fixture(scope="module")
def processor(trained_processor, action_endpoint):
    """The session's loaded model, with the action server as Agent.load(action_endpoint=) sets it."""
    processor = copy.copy(trained_processor)
    processor.action_endpoint = action_endpoint
    return processor


def server(processor, tracker_store: TrackerStore, lock_store) -> Agent:
    """An Agent as `rasa run` builds one: the processor gets the stores as the Agent wraps them."""
    agent = Agent(domain=processor.domain, tracker_store=tracker_store, lock_store=lock_store)
    agent.processor = copy.copy(processor)
    agent.processor.tracker_store = agent.tracker_store
    agent.processor.lock_store = agent.lock_store
    return agent


async def send(agent: Agent, text: str, sender: str = "cus_1", **kwargs) -> list:
    output = CollectingOutputChannel()
    await agent.handle_message(UserMessage(text, output, sender, **kwargs))
    return output.messages


async def test_two_servers_200_interleaved_messages_from_two_channels(processor, redis_url):
    stores = [(CustomerTrackerStore(host=redis_url), CustomerLockStore(url=redis_url)) for _ in range(2)]
    servers = {"whatsapp": server(processor, *stores[0]), "sms": server(processor, *stores[1])}

    async def deliver(channel: str, i: int) -> tuple:
        replies = await send(
            servers[channel], MESSAGES[i % len(MESSAGES)], "cus_busy", input_channel=channel,
            message_id=f"{channel}-{i}", metadata={"channel": channel},
        )
        return f"{channel}-{i}", replies

    deliveries = [deliver(channel, i) for i in range(100) for channel in ("whatsapp", "sms")]
    replies = dict(await asyncio.gather(*deliveries))

    history = await stores[0][0].read_history("cus_busy")
    user_ids = [e["message_id"] for e in history if e["event"] == "user"]
    assert len(user_ids) == 200 and set(user_ids) == set(replies)  # all, exactly once

    # Consistent order: turns never interleave (one action_listen closes each turn before
    # the next user message), user messages are stamped in stored order, and the bot text
    # stored after each message is the reply its sender received.
    turn_of = {}
    current = None
    for event in history:
        if event["event"] == "user":
            assert current is None, f"{event['message_id']} started inside turn {current}"
            current = event["message_id"]
            turn_of[current] = []
        elif event["event"] == "bot":
            turn_of[current].append(event["text"])
        elif event["event"] == "action" and event["name"] == "action_listen":
            current = None
    user_times = [e["timestamp"] for e in history if e["event"] == "user"]
    assert user_times == sorted(user_times)
    for message_id, received in replies.items():
        assert received, f"{message_id} got no reply"
        assert [m["text"] for m in received] == turn_of[message_id]

    for tracker_store, lock_store in stores:
        await tracker_store.close()
        await lock_store.close()


async def _age_history(store: TrackerStore, sender: str, seconds: float) -> None:
    """Move a stored conversation back in time, so its session has expired."""
    tracker = await store.retrieve_full_tracker(sender)
    events = [{**e.as_dict(), "timestamp": e.timestamp - seconds} for e in tracker.events]
    if isinstance(store, CustomerTrackerStore):
        await store.rewrite_history(sender, events)
    else:
        store.red.set(store.key_prefix + sender, json.dumps({"name": sender, "events": events}))


async def _pause(store: TrackerStore, sender: str) -> None:
    tracker = await store.retrieve(sender)
    tracker.update(ConversationPaused())
    await store.save(tracker)


async def _scenario(agent: Agent, store: TrackerStore) -> dict:
    """Greet, hand off (pause), write while paused, come back two hours later."""
    seen = {"first": await send(agent, "hello")}
    await _pause(store, "cus_1")
    seen["while_paused"] = await send(agent, "hello?")
    await _age_history(store, "cus_1", TWO_HOURS)
    seen["next_session"] = await send(agent, "hi again")
    current = await store.retrieve("cus_1")
    seen["current_session"] = [(e.type_name, getattr(e, "action_name", None) or getattr(e, "text", None))
                               for e in current.events]
    seen["paused"] = current.is_paused()
    full = await store.retrieve_full_tracker("cus_1")
    seen["sessions_in_full_history"] = sum(1 for e in full.events if e.type_name == "session_started")
    return seen


async def test_session_expiry_and_pause_behave_exactly_as_with_rasas_store(processor, redis_url):
    ours = CustomerTrackerStore(host=redis_url)
    parts = urlparse(redis_url)
    rasa = RedisTrackerStore(None, host=parts.hostname, port=parts.port, key_prefix="rasa")

    with_ours = await _scenario(server(processor, ours, CustomerLockStore(url=redis_url)), ours)
    with_rasa = await _scenario(server(processor, rasa, InMemoryLockStore()), rasa)

    assert with_ours == with_rasa
    assert with_ours["first"] and not with_ours["while_paused"]  # paused: no reply
    assert with_ours["next_session"]  # a new session un-pauses, as in Rasa
    assert with_ours["current_session"][0] == ("action", "action_session_start")
    assert with_ours["sessions_in_full_history"] == 2
    await ours.close()


async def test_redis_outage_fails_the_turn_instead_of_answering_from_memory(processor, monkeypatch):
    from rasa.core.agent import Agent as RasaAgent

    from threadline.conversation.redis_connection import StorageUnavailable
    from tests.support.redis_server import RedisServer
    from threadline import rasa_server

    redis_server = RedisServer()
    try:
        plain = server(processor, CustomerTrackerStore(host=redis_server.url), InMemoryLockStore())
        monkeypatch.setattr(RasaAgent, "_create_tracker_store", RasaAgent.__dict__["_create_tracker_store"])
        rasa_server._fail_turns_on_storage_errors()  # what `threadline.rasa_server run` does
        strict = server(processor, CustomerTrackerStore(host=redis_server.url), InMemoryLockStore())
        assert await send(strict, "hello", "cus_out")
        redis_server.stop()

        # Rasa's default: the fail-safe answers as if the customer were new and keeps the
        # turn only in memory.
        assert await send(plain, "hello", "cus_out")
        # Threadline's entry point: the turn fails loudly and can be retried.
        with pytest.raises(StorageUnavailable):
            await send(strict, "hello", "cus_out")
    finally:
        redis_server.stop()
