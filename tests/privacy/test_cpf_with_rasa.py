"""A CPF sent to the running system is nowhere in clear: not in Redis (tracker, inbox, send
records), not in the CRM database, not in any process's log, and the bot still knows a CPF
was given (a `cpf` entity whose value is the mask).

The real Rasa server, inbox worker and action server with the trained model (bench/rasa_stack.py,
as `make run` starts them), the timeline worker that writes the CRM rows, a private Redis and a
SQLite CRM; the sandbox stands in for Meta. One customer writes on WhatsApp (the webhook, the
inbox, the consumer), another through the REST channel the simulator and web front ends use.
Every service logs at debug level (LOG_LEVEL=DEBUG for Rasa, which then writes each user
message it receives; THREADLINE_LOG_LEVEL=debug), far more than `make run` does, so the logs
searched hold the customers' words. Needs models/threadline.tar.gz.
"""
from __future__ import annotations

import re
from typing import List, Optional

import aiohttp
import pytest
from redis.asyncio import Redis

from bench.rasa_stack import RasaStack
from tests.channels.conftest import post
from tests.channels.helpers import sent
from tests.privacy.stored import everything_in_redis, everything_in_sqlite
from tests.support.outbound import customer_of_our_message
from tests.support.processes import project_process
from tests.support.redis_server import RedisServer, free_port
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for
from threadline.sandbox import payloads as p

WA_ID = "5511987654321"
# Valid CPFs (check digits worked out by hand), each with its mask.
WHATSAPP_CPF, WHATSAPP_MASK = "529.982.247-25", "***.982.247-**"
REST_CPF, REST_MASK = "11144477735", "***.444.777-**"
# Either number in any writing, or what the mask hides next to what it shows: the first nine
# digits, or the last eight (shorter runs turn up in timestamps by chance).
CLEAR = re.compile(rb"529\D?982\D?247|982\D?247\D?25|111\D?444\D?777|444\D?777\D?35")


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cpf-stack")
    redis = RedisServer()
    stack = RasaStack(redis.url, folder, with_sandbox_process=False)
    stack.env.update(LOG_LEVEL="DEBUG", THREADLINE_LOG_LEVEL="debug")
    timeline_port = free_port()
    try:
        stack.start()
        with project_process(["-m", "threadline.crm.timeline_worker"], f"http://127.0.0.1:{timeline_port}/health",
                             {**stack.env, "CRM_TIMELINE_PORT": str(timeline_port)}, folder / "timeline.log"):
            yield stack
    finally:
        stack.stop()
        redis.stop()


async def tracker_events(stack: RasaStack, conversation_id: str) -> List[dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.base}/conversations/{conversation_id}/tracker",
                               params={"token": stack.token}) as response:
            return (await response.json())["events"]


def users(events: List[dict]) -> List[dict]:
    return [e for e in events if e["event"] == "user"]


def cpf_entities(user: dict) -> List[str]:
    return [e["value"] for e in user["parse_data"]["entities"] if e["entity"] == "cpf"]


@pytest.mark.slow
async def test_a_cpf_is_stored_and_logged_only_masked(running):
    env = running.env
    crm_file = env["CRM_DATABASE_URL"].removeprefix("sqlite:///")
    async with serve_sandbox(env, running.sandbox_port) as provider:
        delivery = p.meta_delivery(env["WHATSAPP_APP_SECRET"], p.whatsapp_envelope(
            env["WHATSAPP_PHONE_NUMBER_ID"],
            [p.whatsapp_message("text", WA_ID, {"body": f"oi, meu cpf é {WHATSAPP_CPF}, cadê meu pedido?"})],
            contacts=[p.whatsapp_contact(WA_ID, "Ana")]))
        assert await post(f"{running.base}/webhooks/whatsapp/webhook", delivery) == 200
        reply = (await wait_for(lambda: sent(provider, "whatsapp", WA_ID), timeout=90))[0]
        customer_id = await wait_for(lambda: customer_of_our_message(env["REDIS_URL"], "whatsapp", reply["id"]))

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{running.base}/webhooks/rest/webhook",
                                json={"sender": "ana-web", "message": f"meu cpf {REST_CPF}, e o meu pedido?"}) as r:
            assert r.status == 200 and await r.json()  # answered

    whatsapp_user, = users(await tracker_events(running, customer_id))
    rest_user, = users(await tracker_events(running, "rest:ana-web"))
    assert whatsapp_user["text"] == f"oi, meu cpf é {WHATSAPP_MASK}, cadê meu pedido?"
    assert rest_user["text"] == f"meu cpf {REST_MASK}, e o meu pedido?"
    assert cpf_entities(whatsapp_user) == [WHATSAPP_MASK] and cpf_entities(rest_user) == [REST_MASK]

    # The CRM timeline rows, once the timeline worker has read both turns.
    crm = await wait_for(lambda: _with_both_masks(everything_in_sqlite(crm_file)), timeout=60)
    redis = Redis.from_url(env["REDIS_URL"])
    try:
        stored = await everything_in_redis(redis)
    finally:
        await redis.close()
    assert WHATSAPP_MASK.encode() in stored and REST_MASK.encode() in stored  # the search looks in the right place
    assert CLEAR.findall(stored) == []
    assert CLEAR.findall(crm.encode()) == []
    logs = {path.name: path.read_bytes() for path in running.log_dir.glob("*.log")}
    assert {"rasa.log", "worker.log", "actions.log", "timeline.log"} <= set(logs)
    assert any(WHATSAPP_MASK.encode() in text for text in logs.values())  # the messages are there, masked
    assert {name: CLEAR.findall(text) for name, text in logs.items() if CLEAR.search(text)} == {}


async def _with_both_masks(dump: str) -> Optional[str]:
    return dump if WHATSAPP_MASK in dump and REST_MASK in dump else None
