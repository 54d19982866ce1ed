"""Collects the corpus results of a run: a summary line at the end of pytest's report and
results/conversations.json (every conversation, its turns, the bot's texts and what broke)."""
from __future__ import annotations

import json

from tests.conversations.results import RESULTS, recorded, summary


def pytest_sessionfinish(session, exitstatus) -> None:
    if not recorded():
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary(), "conversations": [r.as_dict() for r in recorded()]},
                                  indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter) -> None:
    if not recorded():
        return
    figures = summary()
    terminalreporter.write_line(
        f"conversation corpus: {figures['conversations']} conversations, {figures['customer_turns']} customer "
        f"messages, {figures['bot_messages_checked']} bot messages checked, {figures['broken']} broken, "
        f"{figures['known_bugs']} known bugs ({RESULTS.relative_to(RESULTS.parents[1])})")
