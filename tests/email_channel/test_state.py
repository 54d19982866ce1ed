"""Email state in a real Redis: thread lookup, rate limit, cursor; options by number or words."""
from __future__ import annotations

from redis.asyncio import Redis

from connectors.email.state import EmailState
from connectors.webhook.offers import Offer


async def test_thread_rate_and_cursor(redis_url):
    redis = Redis.from_url(redis_url)
    state = EmailState(redis)
    await state.remember_thread("<ours@shop.example>", "cus_1")
    assert await state.thread_customer(["<unknown@x>", "<ours@shop.example>"]) == "cus_1"
    assert await state.thread_customer(["<unknown@x>"]) is None
    assert await state.thread_customer([]) is None

    assert [await state.allow_reply("ana@example.com", 2, 3600) for _ in range(3)] == [True, True, False]
    assert await state.allow_reply("bruno@example.com", 2, 3600) is True

    assert await state.imap_cursor("box") is None
    await state.set_imap_cursor("box", 77, 12)
    assert await state.imap_cursor("box") == (77, 12)
    await redis.close()


def test_an_email_offer_is_answered_by_number_or_words():
    offer = Offer.of_buttons("email", [{"title": "Pix", "payload": "/pix"},
                                       {"title": "Boleto", "payload": "/boleto"}], numbered=True)
    assert offer.chosen("email", "2", by_title=True) == "/boleto"
    assert offer.chosen("email", "2.\n\n> quoted", by_title=True) == "/boleto"
    assert offer.chosen("email", " PIX ", by_title=True) == "/pix"
    assert offer.chosen("email", "3", by_title=True) is None
    assert offer.chosen("email", "quero pix e boleto", by_title=True) is None
    assert offer.chosen("sms", "1") is None  # the list was shown by email
