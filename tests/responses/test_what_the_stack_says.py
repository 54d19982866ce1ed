"""Issue #15's "say what is true" and "no template leaks", on the path `make run` takes: signed
WhatsApp webhooks into the real connector, the durable inbox and its worker, the trained model
on Redis, the action server and the CRM; the sandbox plays Meta and records what was sent."""
from __future__ import annotations

from typing import List

import pytest

from tests.channels.conftest import post
from tests.channels.helpers import sent
from tests.responses.leaks import leaks
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for
from threadline.sandbox import payloads as p

pytestmark = pytest.mark.slow
# First contacts: no other file writes from these numbers.
ASKS_TWICE, PAYMENT_FAILED = "5511944441501", "5511944441502"
REPLY_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def stack(assistant_stack):
    return assistant_stack


@pytest.fixture
async def provider(stack):
    async with serve_sandbox(stack.env, stack.sandbox_port) as sandbox:
        yield sandbox


async def whatsapp(stack, provider, wa_id: str, text: str) -> List[str]:
    """Send `text` as the customer; the bot's WhatsApp replies to it (waits for at least one more)."""
    before = len(sent(provider, "whatsapp", wa_id))
    envelope = p.whatsapp_envelope(stack.env["WHATSAPP_PHONE_NUMBER_ID"], [p.whatsapp_message("text", wa_id, {"body": text})],
                                   contacts=[p.whatsapp_contact(wa_id, "Ana")])
    assert await post(f"{stack.base}/webhooks/whatsapp/webhook",
                      p.meta_delivery(stack.env["WHATSAPP_APP_SECRET"], envelope)) == 200
    replies = await wait_for(lambda: sent(provider, "whatsapp", wa_id)[before:], timeout=REPLY_TIMEOUT_S)
    return [reply["body"]["text"]["body"] for reply in replies]


async def test_where_is_my_order_asked_again_says_the_case_is_already_open(stack, provider):
    first = await whatsapp(stack, provider, ASKS_TWICE, "where is my order TL-48213?")
    opened = next(text for text in first if "I've opened case #" in text)
    case = opened.split("I've opened case #")[1].split(" ")[0]
    update_by = opened.split("we'll update you by ")[1].rstrip(".")
    second = await whatsapp(stack, provider, ASKS_TWICE, "where is my order TL-48213?")
    said = " ".join(second)
    assert "I've opened" not in said, second
    assert f"Case #{case} with our delivery team is already open, due {update_by}: we'll update you by then." in said
    assert [leak for text in first + second for leak in leaks(text)] == []


async def test_a_failed_payment_names_no_order(stack, provider):
    replies = await whatsapp(stack, provider, PAYMENT_FAILED, "my payment failed")
    assert any(text.startswith("I've opened case #") and "our team will sort out the payment by" in text
               for text in replies), replies
    assert [leak for text in replies for leak in leaks(text)] == []
