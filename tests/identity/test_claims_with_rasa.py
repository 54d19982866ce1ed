"""Identity claims through the real stack: the trained model, Rasa's processor with the
project's Redis tracker and lock stores, the real action server process, and a real SMTP
server receiving the one-time code. Needs models/threadline.tar.gz (`make train`).

Messages enter as every connector hands them over: resolve the address, then
`Agent.handle_message` with the customer id as sender.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from rasa.core.agent import Agent
from rasa.core.channels import UserMessage
from sqlalchemy import update

from tests.support.assistant import assistant_on_redis
from tests.support.channel_output import ChannelOutput
from tests.support.processes import action_server
from tests.support.waiting import wait_for
from threadline.crm import Database
from threadline.crm.models import IdentityClaim
from threadline.crm.models.base import utcnow
from threadline.crm.sql_backend import SqlCrm
from threadline.identity.services import IdentityServices

IGSID, WA_ID, EMAIL = "17841400000000001", "5511987654321", "ana@example.com"


@pytest.fixture(scope="module")
def processor(trained_processor):
    return trained_processor


@pytest.fixture
def crm_db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'crm.sqlite3'}"


@pytest.fixture
def action_url(channel_env, crm_db_url, tmp_path):
    """The action server as `make run` starts it: the channels' environment, the CRM, Redis."""
    with action_server({**channel_env, "CRM_DATABASE_URL": crm_db_url}, tmp_path / "actions.log") as url:
        yield url


@pytest.fixture
async def assistant(processor, action_url, redis_url):
    async with assistant_on_redis(processor, redis_url, action_url) as agent:
        yield agent


@pytest.fixture
async def identities(crm_db_url, redis_url):
    services = IdentityServices(Database(crm_db_url), redis_url)
    yield services
    await services.close()


@pytest.fixture
async def scene(assistant, identities):
    """Ana has talked on WhatsApp, and her email is verified on that record."""
    ana = await identities.resolver.resolve("whatsapp", WA_ID)
    await identities.link()(ana, "email", EMAIL, actor="test", reason="imported contact")
    assert await say(assistant, identities, "whatsapp", WA_ID, "hello", "wamid-1")
    stranger = await identities.resolver.resolve("instagram", IGSID)
    return ana, stranger


async def say(agent: Agent, identities, channel: str, address: str, text: str, message_id: str) -> str:
    customer_id = await identities.resolver.resolve(channel, address)
    output = ChannelOutput(channel)
    await agent.handle_message(UserMessage(
        text, output, customer_id, input_channel=channel, message_id=message_id,
        metadata={"channel": channel, "address": address, "provider_message_id": message_id}))
    return " ".join(m.get("text", "") for m in output.messages)


def code_of(mail) -> str:
    return re.search(r"verification code is (\d{6})\.", mail.get_body(("plain",)).get_content()).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


async def user_texts(identities, customer_id: str) -> list:
    return [e["text"] for e in await identities.histories.read_history(customer_id) if e["event"] == "user"]


async def claim(assistant, identities, outbox) -> str:
    answer = await say(assistant, identities, "instagram", IGSID, f"Hi, I'm {EMAIL}", "ig-1")
    assert "I've sent it a 6-digit code" in answer and "a•••@example.com" in answer, answer
    [mail] = await wait_for(lambda: list(outbox) or None, timeout=10)
    assert mail["X-Envelope-To"] == EMAIL
    return code_of(mail)


async def test_instagram_claim_of_a_whatsapp_customers_email_merges_after_the_emailed_code(
        assistant, identities, scene, outbox):
    ana, stranger = scene
    crm = SqlCrm(identities.db)
    case, _ = await crm.open_case(ana, "late_order", "TL-48213", "whatsapp")
    code = await claim(assistant, identities, outbox)
    assert await say(assistant, identities, "instagram", IGSID, wrong(code), "ig-2") == \
        "That code isn't right. You have 4 more tries."
    answer = await say(assistant, identities, "instagram", IGSID, code, "ig-3")
    # Ana's record is shown only now, with the code proven.
    assert answer == ("Thanks, that's confirmed: this conversation is now linked with your earlier messages to us. "
                      f"Your case #{case.id} about order TL-48213 is still open."), answer

    # The merge runs in the action server once Rasa has released the conversation's lock.
    assert await wait_for(lambda: _resolves(identities, ana), timeout=20)
    later = await say(assistant, identities, "instagram", IGSID, "hello again", "ig-4")
    assert later
    texts = await user_texts(identities, ana)
    assert texts == ["hello", f"Hi, I'm {EMAIL}", wrong(code), code, "hello again"]
    assert await user_texts(identities, stranger) == []
    assert await identities.resolver.resolve("email", EMAIL) == ana


async def test_five_wrong_codes_link_nothing(assistant, identities, scene, outbox):
    ana, stranger = scene
    code = await claim(assistant, identities, outbox)
    answers = [await say(assistant, identities, "instagram", IGSID, wrong(code), f"ig-w{n}") for n in range(5)]
    assert answers[-1].startswith("That code isn't right, and that was the last try"), answers
    answer = await say(assistant, identities, "instagram", IGSID, code, "ig-late")
    assert "confirmed" not in answer
    assert await identities.resolver.resolve("instagram", IGSID) == stranger
    assert await user_texts(identities, ana) == ["hello"]


async def test_an_expired_code_links_nothing(assistant, identities, scene, outbox):
    ana, stranger = scene
    code = await claim(assistant, identities, outbox)
    await identities.db.run(lambda s: s.execute(update(IdentityClaim).values(expires_at=utcnow() - timedelta(seconds=1))))
    answer = await say(assistant, identities, "instagram", IGSID, code, "ig-2")
    assert answer.startswith("That code has expired"), answer
    assert await identities.resolver.resolve("instagram", IGSID) == stranger
    assert await user_texts(identities, ana) == ["hello"]


async def _resolves(identities, customer_id: str) -> bool:
    return await identities.resolver.resolve("instagram", IGSID) == customer_id
