"""The trained model reads the follow-ups issue #15 names as `ask_update`, a greeting that
carries one too, and keeps its neighbours where they were: a greeting alone is a greeting, a
follow-up that names the order or the refund is that journey's."""
from __future__ import annotations

import pytest
from rasa.core.channels.channel import UserMessage

from threadline.training import model_path

FOLLOW_UPS = ["any update?", "and?", "still nothing", "so?", "hello again, any update?",
              "alguma novidade?", "e aí?", "nada ainda?", "e entao?"]
NEIGHBOURS = {"hi again": "greet", "oi de novo": "greet", "e aí, beleza?": "greet",
              "any update on my refund?": "refund_status", "any news on my parcel": "order_status",
              "where is my order TL-48213? it should have arrived already": "order_status"}


@pytest.fixture(scope="module")
def parse(request):
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    processor = request.getfixturevalue("trained_processor")

    async def intent(text: str) -> str:
        return (await processor.parse_message(UserMessage(text)))["intent"]["name"]  # as the server parses it
    return intent


@pytest.mark.parametrize("text", FOLLOW_UPS)
async def test_a_follow_up_is_ask_update(parse, text):
    assert await parse(text) == "ask_update"


@pytest.mark.parametrize("text, intent", NEIGHBOURS.items())
async def test_its_neighbours_keep_their_intent(parse, text, intent):
    assert await parse(text) == intent
