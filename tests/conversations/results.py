"""The corpus results of this pytest run, in the order the conversations ran."""
from __future__ import annotations

from pathlib import Path
from typing import List

from tests.conversations.runner import ConversationResult

RESULTS = Path(__file__).resolve().parents[2] / "results" / "conversations.json"
_results: List[ConversationResult] = []


def record(result: ConversationResult) -> None:
    _results.append(result)


def recorded() -> List[ConversationResult]:
    return list(_results)


def summary() -> dict:
    broken = [r for r in _results if r.broken and not r.conversation.known_bug]
    known = [r for r in _results if r.broken and r.conversation.known_bug]
    return {"conversations": len(_results), "bot_messages_checked": sum(r.bot_messages for r in _results),
            "customer_turns": sum(len(r.observed) for r in _results), "broken": len(broken),
            "broken_names": [r.conversation.name for r in broken],
            "known_bugs": len(known), "known_bug_names": [r.conversation.name for r in known],
            "checks_failed": sorted({f.check for r in broken for f in r.findings})}
