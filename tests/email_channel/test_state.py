"""Email state in a real Redis: thread lookup, options by number or words, rate limit, cursor."""
from __future__ import annotations

from redis.asyncio import Redis

from connectors.email.state import EmailState


async def test_thread_options_rate_and_cursor(redis_url):
    redis = Redis.from_url(redis_url)
    state = EmailState(redis)
    await state.remember_thread("<ours@shop.example>", "cus_1")
    assert await state.thread_customer(["<unknown@x>", "<ours@shop.example>"]) == "cus_1"
    assert await state.thread_customer(["<unknown@x>"]) is None
    assert await state.thread_customer([]) is None

    await state.offer_options("ana@example.com", [{"title": "Pix", "payload": "/pix"},
                                                  {"title": "Boleto", "payload": "/boleto"}])
    assert await state.chosen_option("ana@example.com", "2") == "/boleto"
    assert await state.chosen_option("ana@example.com", "2.\n\n> quoted") == "/boleto"
    assert await state.chosen_option("ana@example.com", " PIX ") == "/pix"
    assert await state.chosen_option("ana@example.com", "3") is None
    assert await state.chosen_option("ana@example.com", "quero pix e boleto") is None
    assert await state.chosen_option("bruno@example.com", "1") is None

    assert [await state.allow_reply("ana@example.com", 2, 3600) for _ in range(3)] == [True, True, False]
    assert await state.allow_reply("bruno@example.com", 2, 3600) is True

    assert await state.imap_cursor("box") is None
    await state.set_imap_cursor("box", 77, 12)
    assert await state.imap_cursor("box") == (77, 12)
    await redis.close()
