"""The faster model loading in threadline.rasa_server gives exactly Rasa's predictions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from threadline.training import model_path

PROJECT = Path(__file__).resolve().parents[2]

PARSE_SCRIPT = """
import asyncio, json, sys, time
from threadline import rasa_server
if sys.argv[1] == "fast":
    rasa_server._build_loaded_weights_eagerly()
from rasa.core.agent import Agent
from rasa.utils.endpoints import EndpointConfig
started = time.monotonic()
agent = Agent.load(sys.argv[2], action_endpoint=EndpointConfig(url=sys.argv[3]))
load_seconds = time.monotonic() - started
messages = ["hello there", "are you a real person?", "thanks a lot", "no way", "bye"]
async def parse_all():
    return [await agent.parse_message(text) for text in messages]
parsed = asyncio.run(parse_all())
replies = asyncio.run(agent.handle_text("wait, am I talking to a bot?", sender_id="load-test"))
print(json.dumps({
    "load_seconds": load_seconds,
    "intents": [[(r["name"], r["confidence"]) for r in p["intent_ranking"]] for p in parsed],
    "replies": [r.get("text") for r in replies],
}))
"""


def load_and_parse(mode: str, action_endpoint) -> dict:
    # With the action server, as Rasa runs: action_session_start and the fallback are custom actions.
    result = subprocess.run(
        [sys.executable, "-c", PARSE_SCRIPT, mode, str(model_path()), action_endpoint.url],
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow(minutes=2)
def test_fast_loading_predicts_exactly_like_rasa(action_endpoint):
    assert model_path().is_file(), "train first: make train"
    rasa = load_and_parse("rasa", action_endpoint)
    fast = load_and_parse("fast", action_endpoint)
    assert fast["replies"] == rasa["replies"] and fast["replies"]
    for ours, theirs in zip(fast["intents"], rasa["intents"]):
        assert [name for name, _ in ours] == [name for name, _ in theirs]
        assert [c for _, c in ours] == pytest.approx([c for _, c in theirs], abs=1e-5)
    print(f"model load: Rasa {rasa['load_seconds']:.1f} s, Threadline {fast['load_seconds']:.1f} s")
