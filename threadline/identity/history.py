"""Combining two customers' tracker histories for a merge, and splitting them for an unlink.

Each event taken into a merge gets its origin pushed on a small stack stored beside it
(`threadline_origin`, a top-level key Rasa ignores). Unlinking pops it, so both customers get
back exactly the events they had, in their own order. Events added after the merge carry no
origin from that merge: a turn (a user message and what followed it until the next one) that
came from one of the identities the merged customer gets back is theirs, so an unlink leaves
none of the other person's messages with the survivor; every other event stays with the
survivor. Neither touches an event's stable id (`threadline_id`, or the id derived from its
first owner), which is what readers key on.
"""
from __future__ import annotations

import copy
import heapq
from typing import Any, Callable, Dict, List, Set, Tuple

from threadline.conversation.event_ids import ORIGIN
Event = Dict[str, Any]


def _tagged(events: List[Event], origin: str) -> List[Event]:
    tagged = []
    for event in events:
        event = copy.deepcopy(event)
        event[ORIGIN] = list(event.get(ORIGIN, [])) + [origin]
        tagged.append(event)
    return tagged


def combine(survivor_id: str, survivor_events: List[Event], merged_id: str, merged_events: List[Event]) -> List[Event]:
    """One history in time order. Each side keeps its own relative order (stable merge),
    even where its timestamps are not monotonic."""
    return list(heapq.merge(
        _tagged(survivor_events, survivor_id), _tagged(merged_events, merged_id),
        key=lambda e: float(e.get("timestamp") or 0.0),
    ))


WroteIt = Callable[[Event], bool]


def _from_this_merge(event: Event, survivor_id: str, merged_id: str) -> bool:
    origins = event.get(ORIGIN) or []
    return bool(origins) and origins[-1] in (survivor_id, merged_id)


def turns_after_merge(events: List[Event], survivor_id: str, merged_id: str, wrote_it: WroteIt) -> Set[int]:
    """Positions of the events written after the merge that belong to turns `wrote_it` says the
    merged person started: their user message and every later event up to the next one."""
    theirs, positions = False, set()
    for position, event in enumerate(events):
        if _from_this_merge(event, survivor_id, merged_id):
            theirs = False
            continue
        if event.get("event") == "user":
            theirs = wrote_it(event)
        if theirs:
            positions.add(position)
    return positions


def split(events: List[Event], survivor_id: str, merged_id: str,
          wrote_it: WroteIt = lambda event: False) -> Tuple[List[Event], List[Event]]:
    """Undo `combine`: (survivor's events, merged customer's events). `wrote_it(user event)`:
    whether a message written after the merge came from the merged person."""
    survivor, merged = [], []
    returning = turns_after_merge(events, survivor_id, merged_id, wrote_it)
    for position, event in enumerate(events):
        if not _from_this_merge(event, survivor_id, merged_id):
            (merged if position in returning else survivor).append(event)
            continue
        origins = event[ORIGIN]
        owner = origins[-1]
        event = copy.deepcopy(event)
        rest = origins[:-1]
        if rest:
            event[ORIGIN] = rest
        else:
            event.pop(ORIGIN, None)
        (merged if owner == merged_id else survivor).append(event)
    return survivor, merged
