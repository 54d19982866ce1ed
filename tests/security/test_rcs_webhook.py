"""The RBM webhook (/webhooks/rcs/webhook) refuses what Google did not sign for our agent.

The scripted stack (the real connector in a server process, an inbox worker, a private Redis):
every refusal is a 4xx with one log line and no bot turn; nothing gets a 5xx.
"""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess

import aiohttp
import pytest

from connectors.webhook.signatures import RBM_HEADER, rbm_signature
from threadline.sandbox import payloads as p
from tests.channels.conftest import bot, identity, post, sandbox, scripted_env, store  # noqa: F401
from tests.channels.helpers import activity, handled, settle
from tests.support import rcs
from tests.support.rcs import PHONE, rcs_sent
from tests.support.waiting import wait_for

# An independent vector: `printf '%s' DATA | openssl dgst -sha512 -hmac my_client_token -binary | base64`.
VECTOR_TOKEN = "my_client_token"
VECTOR_DATA = (b'{"senderPhoneNumber":"+5511987654321","messageId":"MxVector1",'
               b'"sendTime":"2026-12-02T06:00:00.000000000Z","agentId":"threadline-agent@rbm.goog","text":"Oi"}')
VECTOR_SIGNATURE = "1cMKSX7jt4yR2rSONP4YmRZOu6ml6aw7uXFqtOwirb739W4lomdDABUN/0oYupvLLH7ydW0fCvBurbTTYnI35Q=="


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return rcs.rcs_env(scripted_env(redis_server, tmp_path_factory), tmp_path_factory.mktemp("rbm"))


@pytest.fixture
async def rcs_bot(bot):  # noqa: F811
    await rcs.wait_until_rcs_ready(bot)
    return bot


def url(bot):  # noqa: F811
    return f"{bot.base}/rcs/webhook"


async def raw_post(url_: str, body: bytes, headers: dict) -> tuple:
    async with aiohttp.ClientSession() as session:
        async with session.post(url_, data=body, headers=headers) as answer:
            return answer.status, await answer.read()


def refusals(bot) -> int:  # noqa: F811
    return bot.edge.log().count("rcs webhook rejected with")


def test_signature_matches_an_independent_vector():
    assert rbm_signature(VECTOR_TOKEN, VECTOR_DATA) == VECTOR_SIGNATURE


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_signature_matches_openssl_on_random_data():
    data = json.dumps({"text": "ação ✓", "n": list(range(50))}).encode()
    token = "a-client-token-with-ünicode"
    digest = subprocess.run(["openssl", "dgst", "-sha512", "-hmac", token, "-binary"], input=data,
                            capture_output=True, check=True).stdout
    assert rbm_signature(token, data) == base64.b64encode(digest).decode()


async def test_handshake_echoes_the_secret_only_for_our_client_token(rcs_bot, sandbox, store, channel_env):
    ours = p.rbm_handshake(channel_env["RBM_CLIENT_TOKEN"], "s3cr3t-4242")
    status, body = await raw_post(url(rcs_bot), ours.body, ours.headers)
    assert status == 200 and json.loads(body) == {"secret": "s3cr3t-4242"}
    theirs = p.rbm_handshake("someone-elses-token", "s3cr3t-4242")
    status, body = await raw_post(url(rcs_bot), theirs.body, theirs.headers)
    assert status == 403 and b"s3cr3t" not in body
    assert await settle(store, 0.3) == []


async def test_a_request_signed_as_the_vector_says_is_accepted(rcs_bot, sandbox, store, channel_env):
    data = VECTOR_DATA.replace(b"threadline-agent@rbm.goog", channel_env["RBM_AGENT_ID"].encode())
    digest = subprocess.run(["openssl", "dgst", "-sha512", "-hmac", channel_env["RBM_CLIENT_TOKEN"], "-binary"],
                            input=data, capture_output=True, check=True).stdout
    status, _ = await raw_post(url(rcs_bot), p.rbm_push_body(data),
                               {"Content-Type": "application/json", RBM_HEADER: base64.b64encode(digest).decode()})
    assert status == 200
    assert (await handled(store))[0]["text"] == "Oi"


def _signed_elsewhere(env):
    return p.rbm_delivery("not-our-client-token", p.rbm_user_message(env["RBM_AGENT_ID"], PHONE, text="forged"))


def _signature_of_other_data(env):
    real = rcs.message(env, "forged")
    other = rcs.message(env, "something else")
    return p.Delivery(real.body, {**real.headers, RBM_HEADER: other.headers[RBM_HEADER]})


def _unsigned(env):
    real = rcs.message(env, "forged")
    return p.Delivery(real.body, {"Content-Type": "application/json"})


def _bad_base64(env):
    body = json.dumps({"message": {"data": "not*base64!", "messageId": "1"}}).encode()
    return p.Delivery(body, {"Content-Type": "application/json", RBM_HEADER: rbm_signature(env["RBM_CLIENT_TOKEN"], b"")})


def _signed_garbage(env):
    data = b"\xff{not json"
    return p.Delivery(p.rbm_push_body(data), {"Content-Type": "application/json",
                                               RBM_HEADER: rbm_signature(env["RBM_CLIENT_TOKEN"], data)})


def _body_not_json(env):
    return p.Delivery(b"{oops", {"Content-Type": "application/json", RBM_HEADER: "AAAA"})


def _oversized(env):
    data = json.dumps(p.rbm_user_message(env["RBM_AGENT_ID"], PHONE, text="x" * (1024 * 1024 + 10))).encode()
    return p.Delivery(p.rbm_push_body(data), {"Content-Type": "application/json",
                                               RBM_HEADER: rbm_signature(env["RBM_CLIENT_TOKEN"], data)})


def _no_message_id(env):
    event = p.rbm_user_message(env["RBM_AGENT_ID"], PHONE, text="hi")
    del event["messageId"]
    return p.rbm_delivery(env["RBM_CLIENT_TOKEN"], event)


@pytest.mark.parametrize("build, status", [
    (_unsigned, 401), (_signed_elsewhere, 403), (_signature_of_other_data, 403), (_bad_base64, 400),
    (_signed_garbage, 400), (_body_not_json, 400), (_oversized, 413), (_no_message_id, 400),
], ids=lambda value: getattr(value, "__name__", str(value)).strip("_"))
async def test_bad_requests_are_refused_with_one_log_line_and_no_turn(rcs_bot, sandbox, store, channel_env, build, status):
    before = refusals(rcs_bot)
    delivery = build(channel_env)
    answer, body = await raw_post(url(rcs_bot), delivery.body, delivery.headers)
    assert answer == status
    await wait_for(lambda: refusals(rcs_bot) == before + 1)
    assert await settle(store, 0.3) == [] and rcs_sent(sandbox) == []
    assert "forged" not in rcs_bot.edge.log()  # logs carry no message bodies


async def test_an_event_for_another_agent_is_acknowledged_and_dropped(rcs_bot, sandbox, store, channel_env):
    other = p.rbm_delivery(channel_env["RBM_CLIENT_TOKEN"],
                           p.rbm_user_message("another-brand@rbm.goog", PHONE, text="not for us"))
    before = rcs_bot.edge.log().count("rcs webhook")
    assert await post(url(rcs_bot), other) == 200  # a partner webhook: refusing would make Pub/Sub retry
    await wait_for(lambda: rcs_bot.edge.log().count("rcs webhook") == before + 1)  # one line
    assert "rcs webhook rejected with 200: event for another agent" in rcs_bot.edge.log()
    assert await settle(store, 0.3) == [] and rcs_sent(sandbox) == []


async def test_an_unknown_message_kind_is_recorded_without_a_reply(rcs_bot, sandbox, store, channel_env, identity):  # noqa: F811
    event = p.rbm_user_message(channel_env["RBM_AGENT_ID"], PHONE)  # no text, file, location or reply
    event["hologram"] = {"uri": "x"}
    assert await post(url(rcs_bot), p.rbm_delivery(channel_env["RBM_CLIENT_TOKEN"], event)) == 200
    recorded = await wait_for(lambda: activity(identity, store, "rcs", PHONE))
    assert [(e.kind, e.message_type) for e in recorded] == [("system", "unknown")]
    await asyncio.sleep(0.3)
    assert await settle(store, 0) == [] and rcs_sent(sandbox) == []


async def test_the_same_message_id_three_times_is_one_turn_and_one_reply(rcs_bot, sandbox, store, channel_env):
    same = rcs.message(channel_env, "uma vez só", message_id="MxSameId")
    assert await asyncio.gather(*(post(url(rcs_bot), same) for _ in range(3))) == [200, 200, 200]
    await handled(store)
    assert len(await settle(store, 1.0)) == 1
    assert len(rcs_sent(sandbox)) == 1
