"""The trained NLU on tests/nlu/heldout_unseen.yml: messages written without seeing the data.

tests/nlu/test_heldout.py's set was written in the team's own voice and scores 0.97; this one
was written from the intent descriptions alone (see its header), in customers' voices and a
third in Brazilian Portuguese, so it shows what customers meet. The test parses every message
through the model `make run` serves, writes overall, per-language and per-intent figures to
results/nlu/heldout_unseen.json, and fails when a figure falls below today's floor. Needs the
model that `make train` builds (skipped without it).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data

from threadline.evaluation.heldout import fallback_threshold, outcome_of, report
from threadline.settings import PROJECT_DIR
from threadline.training import model_path

HELDOUT = Path(__file__).with_name("heldout_unseen.yml")
RESULTS = PROJECT_DIR / "results" / "nlu" / "heldout_unseen.json"

# Today's figures, 1 Dec 2026, the model config.yml builds (TF-IDF + logistic regression,
# fallback at 0.4 / 0.1), 486 messages (docs/designers-guide.md, "A held-out set written apart"):
#   overall  accuracy 0.749, right and confident 0.634, fallback 0.321, confident-wrong 0.045,
#            right intent in the top two 0.805
#   English (321)    accuracy 0.941, right and confident 0.857, fallback 0.137,
#                    confident-wrong 0.006, top two 0.991
#   Portuguese (165) accuracy 0.376, right and confident 0.200, fallback 0.679,
#                    confident-wrong 0.121, top two 0.442
# With the calibrated confidence and its threshold 0.85 (same day, same data; figures of the
# model only, nothing tuned on this set): accuracy 0.749, fallback 0.354, confident-wrong 0.037,
# top two 0.805; English fallback 0.165, confident-wrong 0.000; Portuguese fallback 0.721,
# confident-wrong 0.109. The fallback is now close to its ceiling: the calibrated threshold asks
# more to answer wrongly less (docs/designers-guide.md, "Pipeline comparison", 1 Dec 2026).
# The floors sit a few points below, so a data or pipeline change that loses customers'
# phrasings fails here; the per-language floor keeps a Portuguese gain from hiding an English
# loss. Raise them when the figures improve.
ACCURACY_FLOOR = 0.72
TOP_TWO_FLOOR = 0.77
FALLBACK_CEILING = 0.36
CONFIDENT_WRONG_CEILING = 0.07
LANGUAGE_ACCURACY_FLOOR = {"en": 0.91, "pt": 0.33}
# Issue #14's goal, for later work (not asserted yet): accuracy >= 0.92, fallback <= 5 %,
# confident-and-wrong <= 3 %.
GOAL = {"accuracy": 0.92, "fallback_rate": 0.05, "confident_wrong_rate": 0.03}


@pytest.fixture(scope="module")
def agent() -> Agent:
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    return Agent.load(str(model_path()))


async def test_unseen_messages_are_understood(agent):
    examples = load_data(str(HELDOUT)).intent_examples
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")

    overall = figures["overall"]
    print(f"held-out unseen: {overall['messages']} messages, accuracy {overall['accuracy']}, "
          f"fallback {overall['fallback_rate']}, confident-wrong {overall['confident_wrong_rate']}, "
          f"top two {overall['top_two_rate']}; by language "
          + ", ".join(f"{lang} {f['accuracy']}" for lang, f in figures["by_language"].items())
          + f"; parse ms {figures['parse_ms']}; written to {RESULTS}")
    assert overall["messages"] >= 400
    worst = sorted(figures["by_intent"].items(), key=lambda item: item[1]["accuracy"])[:5]
    assert overall["accuracy"] >= ACCURACY_FLOOR, worst
    assert overall["top_two_rate"] >= TOP_TWO_FLOOR, worst
    assert overall["fallback_rate"] <= FALLBACK_CEILING, worst
    assert overall["confident_wrong_rate"] <= CONFIDENT_WRONG_CEILING, worst
    for language, floor in LANGUAGE_ACCURACY_FLOOR.items():
        assert figures["by_language"][language]["accuracy"] >= floor, (language, worst)
