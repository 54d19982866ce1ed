"""The conversation corpus (tests/conversations/*.yml) through the real stack, one test per
conversation, so a failure names the conversation, the check, the customer's message and the
bot's text. `make test-conversations` runs them and writes results/conversations.json
(tests/conversations/conftest.py). Needs models/threadline.tar.gz (`make train`).

The selected conversations are played once, a few customers at a time (CORPUS_CONCURRENCY,
default 4), before their tests read their results: one stack, each conversation a new customer."""
from __future__ import annotations

import asyncio
import os

import pytest

from tests.conversations.corpus import load_corpus
from tests.conversations.results import record
from tests.conversations.runner import run_corpus

# The first test plays the whole corpus in its set-up (stack start included): more than the
# default 600 s per test on a loaded machine must not cut it short.
pytestmark = [pytest.mark.slow(minutes=4), pytest.mark.timeout(1500)]
CORPUS = load_corpus()
NAMES = [conversation.name for conversation in CORPUS]


@pytest.fixture(scope="session")
def corpus_results(request, assistant_stack):
    selected = {item.callspec.params["name"] for item in request.session.items
                if item.originalname == "test_conversation" and hasattr(item, "callspec")}
    chosen = [(index, c) for index, c in enumerate(CORPUS) if c.name in selected]
    concurrency = int(os.environ.get("CORPUS_CONCURRENCY") or 4)
    return asyncio.run(run_corpus(assistant_stack, chosen, concurrency))


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_conversation(corpus_results, name):
    result = corpus_results[name]
    record(result)
    known = result.conversation.known_bug
    if known:
        assert result.broken, f"{name} passes now: remove its known_bug ({known})"
        pytest.xfail(f"known bug: {known}\n{result.report()}")
    assert not result.broken, result.report()
