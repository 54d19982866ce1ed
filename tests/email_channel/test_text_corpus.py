"""The quote/signature stripper against 33 reply emails written by the team.

Each `tests/email_corpus/NN-*.eml` has `NN-*.expected.txt` beside it: what the customer
actually wrote. Two cases are known hard (a corporate signature with no "-- " separator,
answers interleaved with quotes); the bar is 28 right.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.email.message import parse_email

CORPUS = Path(__file__).resolve().parent.parent / "email_corpus"
REQUIRED = 28


def _normalise(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.strip().split("\n")))


def _cases():
    return sorted(CORPUS.glob("*.eml"))


def test_corpus_is_large_enough():
    assert len(_cases()) >= 30


def test_stripper_scores_at_least_28(capsys):
    wrong = []
    for eml in _cases():
        expected = eml.with_name(eml.stem + ".expected.txt").read_text(encoding="utf-8")
        got = parse_email(eml.read_bytes()).new_text
        if _normalise(got) != _normalise(expected):
            wrong.append((eml.name, got))
    right = len(_cases()) - len(wrong)
    with capsys.disabled():
        print(f"\nemail stripper: {right}/{len(_cases())} right")
        for name, got in wrong:
            print(f"  wrong: {name}: {got!r}")
    assert right >= REQUIRED


@pytest.mark.parametrize("eml", _cases()[:3], ids=lambda p: p.stem)
def test_full_original_is_kept_for_agents(eml):
    parsed = parse_email(eml.read_bytes())
    assert "#4821" in parsed.full_text  # the quoted history is still there
    assert "#4821" not in parsed.new_text or "4821" in eml.with_name(eml.stem + ".expected.txt").read_text()
