"""The trained NLU on sets written without seeing the training data.

tests/nlu/test_heldout.py's set was written in the team's own voice and scores 0.97; these were
written from the intent descriptions alone (see their headers), in customers' voices, so they
show what customers meet: `heldout_unseen.yml` (English and a third Brazilian Portuguese) and
`heldout_pt.yml` (Brazilian Portuguese only, by another writer, after the Portuguese training
data existed and without reading it). Each message is parsed through the model `make run`
serves; overall, per-language and per-intent figures go to results/nlu/<set>.json, and the test
fails when a figure falls below its floor. Needs the model `make train` builds (skipped
without it). Never tune on these sets: docs/designers-guide.md, "A held-out set written apart".
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict

import pytest
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data

from threadline.evaluation.heldout import fallback_threshold, outcome_of, report
from threadline.settings import PROJECT_DIR
from tests.support.assistant import in_memory_agent
from threadline.training import model_path

HERE = Path(__file__).parent
RESULTS = PROJECT_DIR / "results" / "nlu"
# Issue #14's goal, reported beside the figures.
GOAL = {"accuracy": 0.92, "fallback_rate": 0.05, "confident_wrong_rate": 0.03}


@dataclass(frozen=True)
class Floors:
    """What a set must keep: a few points below the figures measured when they were set, so a
    data or pipeline change that loses customers' phrasings fails; the per-language floors keep
    a gain in one language from hiding a loss in the other. Raise them as figures improve."""
    messages: int
    accuracy: float
    top_two: float
    fallback_ceiling: float
    confident_wrong_ceiling: float
    by_language: Dict[str, float] = field(default_factory=dict)


# Measured 2 Dec 2026 on the model config.yml builds (linear SVM on TF-IDF + the shipped
# embedding, temperature-scaled, fallback below 0.67, English + Portuguese data;
# docs/designers-guide.md, "A held-out set written apart"):
#   heldout_unseen (486): accuracy 0.969, fallback 0.045, confident-wrong 0.014, top two 0.996;
#                         English 0.963, Portuguese 0.982
#   heldout_pt (247):     accuracy 0.972, fallback 0.036, confident-wrong 0.020, top two 0.992
# (1 Dec, logistic regression: heldout_unseen 0.951 / 0.072 / 0.021 / 0.990, heldout_pt 0.903 /
# 0.089 / 0.049 / 0.964; before issue #14, with no Portuguese data and no calibration,
# heldout_unseen scored accuracy 0.749, fallback 0.321, confident-wrong 0.045, Portuguese 0.376).
SETS = {
    "heldout_unseen": Floors(messages=400, accuracy=0.95, top_two=0.98, fallback_ceiling=0.065,
                             confident_wrong_ceiling=0.03, by_language={"en": 0.945, "pt": 0.95}),
    "heldout_pt": Floors(messages=200, accuracy=0.95, top_two=0.97, fallback_ceiling=0.06,
                         confident_wrong_ceiling=0.04, by_language={"pt": 0.95}),
}


@pytest.fixture(scope="module")
def agent(request) -> Agent:
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    return in_memory_agent(request.getfixturevalue("trained_processor"))


@pytest.mark.parametrize("name", sorted(SETS))
async def test_messages_written_apart_are_understood(agent, name):
    floors = SETS[name]
    examples = load_data(str(HERE / f"{name}.yml")).intent_examples
    threshold = fallback_threshold(PROJECT_DIR / "config.yml")
    outcomes, parse_seconds = [], []
    for example in examples:
        started = time.perf_counter()
        parsed = await agent.parse_message(example.get("text"))
        parse_seconds.append(time.perf_counter() - started)
        language = example.get("metadata")["intent"]["language"]
        outcomes.append(outcome_of(example.get("intent"), language, parsed, threshold))
    figures = report(outcomes, parse_seconds)
    figures["goal"] = GOAL
    written = RESULTS / f"{name}.json"
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_text(json.dumps(figures, indent=2) + "\n")

    overall = figures["overall"]
    print(f"{name}: {overall['messages']} messages, accuracy {overall['accuracy']}, "
          f"fallback {overall['fallback_rate']}, confident-wrong {overall['confident_wrong_rate']}, "
          f"top two {overall['top_two_rate']}; by language "
          + ", ".join(f"{lang} {f['accuracy']}" for lang, f in figures["by_language"].items())
          + f"; parse ms {figures['parse_ms']}; written to {written}")
    assert overall["messages"] >= floors.messages
    worst = sorted(figures["by_intent"].items(), key=lambda item: item[1]["accuracy"])[:5]
    assert overall["accuracy"] >= floors.accuracy, worst
    assert overall["top_two_rate"] >= floors.top_two, worst
    assert overall["fallback_rate"] <= floors.fallback_ceiling, worst
    assert overall["confident_wrong_rate"] <= floors.confident_wrong_ceiling, worst
    for language, floor in floors.by_language.items():
        assert figures["by_language"][language]["accuracy"] >= floor, (language, worst)
