"""Every answer of every Portuguese journey is Portuguese (issue #16).

The conversation tests in tests/test_journeys_pt.yml check the intents and actions; this test
plays the same customer messages through the trained model and the project's action server
(its `action_validate_slot_mappings` sets the `language` slot, as in `make run`) and reads what
the customer would see on WhatsApp: each reply, response or text built by an action, must be
Portuguese to the project's own detector (threadline/language; "Sim" and other one-word replies
are too short to tell and are allowed). Stories that start from another channel's slots are left
out: their first message alone says nothing of those slots.

Slow (~1-2 min): loads the model. Needs models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import re
from typing import Dict, List

import pytest
import yaml
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

from tests.support.channel_output import ChannelOutput
from threadline.nlu.language import shared_detector
from threadline.settings import PROJECT_DIR
from threadline.training import model_path

pytestmark = pytest.mark.slow

STORIES = PROJECT_DIR / "tests" / "test_journeys_pt.yml"
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")  # [TL-48213](order_id) → TL-48213


def journeys() -> Dict[str, List[str]]:
    """Each story that starts with the customer's first message: its messages, as typed."""
    stories = yaml.safe_load(STORIES.read_text())["stories"]
    return {story["story"]: [ANNOTATION.sub(r"\1", step["user"]).strip() for step in story["steps"] if "user" in step]
            for story in stories if "user" in story["steps"][0]}


@pytest.fixture(scope="module")
def agent(action_endpoint) -> Agent:
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    return Agent.load(str(model_path()), action_endpoint=action_endpoint)


def test_the_stories_cover_the_journeys():
    assert len(journeys()) >= 25


@pytest.mark.parametrize("story", sorted(journeys()))
async def test_every_answer_of_a_portuguese_journey_is_portuguese(agent, story):
    customer = "cus_pt_" + re.sub(r"\W+", "_", story)
    detector, english, replies = shared_detector(), [], 0
    for text in journeys()[story]:
        output = ChannelOutput("whatsapp")
        await agent.handle_message(UserMessage(text, output, sender_id=customer, input_channel="whatsapp",
                                               metadata={"channel": "whatsapp"}))
        for message in output.messages:
            replies += 1
            said = message.get("text") or ""
            if detector.detect(said) not in ("pt", None):
                english.append((text, said))
    tracker = await agent.tracker_store.retrieve(customer)
    assert tracker.get_slot("language") == "pt"
    assert replies and english == []
