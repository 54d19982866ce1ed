"""Choosing among overlapping mentions of a text: the longest wins, then the earliest."""
from __future__ import annotations

from typing import List, Protocol, Sequence, Set, TypeVar


class Mentioned(Protocol):
    start: int
    end: int


M = TypeVar("M", bound=Mentioned)


def longest_first(mentions: Sequence[M]) -> List[M]:
    """The mentions that overlap no longer (or as long and earlier) one, in text order. Linear
    in the characters the mentions cover, so a long hostile message stays cheap."""
    taken: Set[int] = set()
    chosen = []
    for mention in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
        covered = range(mention.start, mention.end)
        if not taken.intersection(covered):
            taken.update(covered)
            chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)
