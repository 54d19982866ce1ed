"""The running timeline worker against one bad event: it is dead-lettered with its reason, the
good events around it reach the timeline, and the worker goes on with the next customer."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Sequence

import pytest
import redis.asyncio as aioredis
from rasa.shared.core.events import BotUttered, UserUttered

from threadline.conversation.event_log import CustomerEventLog
from tests.support.crm_outage import crm_outage
from tests.support.waiting import wait_for
from threadline.cli.main import main as threadline_cli
from threadline.crm.interface import Crm, InteractionRecord
from threadline.crm.timeline_worker import DEAD_LETTER_KEY, TimelineWorker, dead_letter_count

SECRET = "my card is 4111 1111 1111 1111"


def user(text: str, stamp: float = 1_760_000_000.0) -> dict:
    return UserUttered(text, {"name": "greet", "confidence": 0.9}, input_channel="sms",
                       metadata={"channel": "sms"}, timestamp=stamp).as_dict()


def bot(text: str, stamp: float = 1_760_000_001.0) -> dict:
    return BotUttered(text, timestamp=stamp).as_dict()


async def append(client: aioredis.Redis, customer: str, *stored: str) -> None:
    """Events written to the customer's log as stored (bypassing the tracker store's checks)."""
    await CustomerEventLog(client).append(customer, list(stored), [])


async def timeline_texts(crm: Crm, customer: str):
    return [r.text for r in await crm.timeline(customer)]


async def dead_letters(client: aioredis.Redis):
    return [{k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in await client.xrange(DEAD_LETTER_KEY)]


@pytest.fixture
async def client(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.close(close_connection_pool=True)


@pytest.fixture
async def running(client):
    """Start the real worker loop on a CRM; yields the task so tests can see it is alive."""
    tasks = []

    async def start(crm: Crm) -> tuple[TimelineWorker, asyncio.Task]:
        worker = TimelineWorker(client, crm, block_ms=20)
        task = asyncio.create_task(worker.run())
        tasks.append((worker, task))
        return worker, task

    yield start
    for worker, task in tasks:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def test_a_malformed_event_between_two_good_ones_is_dead_lettered_and_the_worker_goes_on(
        client, crm, running, caplog):
    caplog.set_level(logging.INFO, logger="threadline.crm.timeline")
    await append(client, "cus_ana", json.dumps(user("hello")),
                 '{"event": "user", "text": "' + SECRET, json.dumps(bot("hi Ana")))
    _, task = await running(crm.crm)

    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"), ["hello", "hi Ana"]))
    [letter] = await wait_for(lambda: dead_letters(client))
    assert (letter["customer"], letter["position"]) == ("cus_ana", "1")
    assert letter["reason"].startswith("not JSON")
    assert float(letter["at"]) > 0
    assert SECRET not in json.dumps(letter)
    lines = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(lines) == 1 and "cus_ana" in lines[0] and "not JSON" in lines[0]
    assert not any(SECRET in r.getMessage() for r in caplog.records)

    await append(client, "cus_bia", json.dumps(user("where is my order?")), json.dumps(bot("on its way")))
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_bia"), ["where is my order?", "on its way"]))
    assert not task.done()
    assert await dead_letter_count(client) == 1


@pytest.mark.parametrize("stored, reason", [
    (json.dumps({**user("x"), "timestamp": "yesterday"}), "timestamp is not a number"),
    (json.dumps({**user("x"), "timestamp": 1e20}), "timestamp is out of range"),
    (json.dumps({**user("x"), "text": {"nested": SECRET}}), "text is not a string"),
    (json.dumps({**user("x"), "metadata": [SECRET]}), "metadata is not an object"),
    (json.dumps({**user("x"), "parse_data": {"entities": SECRET}}), "parse_data.entities is not a list of objects"),
    (json.dumps([SECRET]), "event is not an object"),
    (b"{\"text\": \"\x80" + SECRET.encode(), "not UTF-8"),
])
async def test_an_event_with_a_missing_or_mistyped_field_is_dead_lettered_with_its_reason(
        client, crm, running, stored, reason):
    await append(client, "cus_ana", json.dumps(user("before")), stored, json.dumps(bot("after")))
    _, task = await running(crm.crm)
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"), ["before", "after"]))
    [letter] = await wait_for(lambda: dead_letters(client))
    assert (letter["position"], letter["reason"]) == ("1", reason)
    assert SECRET not in json.dumps(letter)
    assert not task.done()


@dataclass
class RefusingCrm:
    """The real CRM, except that its write refuses any batch holding one given text (as a CRM
    refuses a value it cannot store)."""
    crm: Crm
    refused_text: str

    async def record_interactions(self, records: Sequence[InteractionRecord]) -> int:
        if any(r.text == self.refused_text for r in records):
            raise ValueError("field rejected by the CRM")
        return await self.crm.record_interactions(records)

    def __getattr__(self, name):
        return getattr(self.crm, name)


async def test_an_event_the_crm_refuses_is_dead_lettered_and_the_rest_of_the_batch_is_written(
        client, crm, running):
    await append(client, "cus_ana", json.dumps(user("one")), json.dumps(user("poison")), json.dumps(bot("two")))
    _, task = await running(RefusingCrm(crm.crm, "poison"))
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"), ["one", "two"]))
    [letter] = await wait_for(lambda: dead_letters(client))
    assert (letter["position"], letter["reason"]) == ("1", "CRM refused the write (ValueError)")
    assert not task.done()


async def test_a_message_postgresql_cannot_store_is_dead_lettered(client, crm, crm_url, running):
    if crm_url.startswith("sqlite"):
        pytest.skip("SQLite stores NUL characters; PostgreSQL refuses them")
    await append(client, "cus_ana", json.dumps(user("one")), json.dumps(user("nul \x00 here")), json.dumps(bot("two")))
    _, task = await running(crm.crm)
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"), ["one", "two"]))
    [letter] = await wait_for(lambda: dead_letters(client))
    assert letter["position"] == "1" and letter["reason"].startswith("CRM refused the write")
    assert not task.done()


async def test_an_unavailable_crm_is_retried_not_dead_lettered(client, crm, crm_url, running):
    await append(client, "cus_ana", json.dumps(user("before the outage")))
    worker, task = await running(crm.crm)
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"), ["before the outage"]))
    with crm_outage(crm_url):
        await append(client, "cus_ana", json.dumps(user("during the outage", 1_760_000_005.0)))
        await wait_for(lambda: not worker.status.crm_available)
    assert await wait_for(lambda: _equals(timeline_texts(crm.crm, "cus_ana"),
                                          ["before the outage", "during the outage"]), timeout=30)
    assert await dead_letter_count(client) == 0
    assert not task.done()


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_threadline_info_shows_the_dead_letter_count(client, crm, running, redis_url, monkeypatch, capsys):
    await append(client, "cus_ana", "not json at all", json.dumps(user("fine")))
    await running(crm.crm)
    await wait_for(lambda: dead_letters(client))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await asyncio.to_thread(threadline_cli, ["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["timeline_dead_letters"] == 1
    assert await asyncio.to_thread(threadline_cli, ["info"]) == 0
    assert "dead letters 1 timeline event(s)" in capsys.readouterr().out
