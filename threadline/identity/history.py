"""Combining two customers' tracker histories for a merge, and splitting them for an unlink.

Each event taken into a merge gets its origin pushed on a small stack stored beside it
(`threadline_origin`, a top-level key Rasa ignores). Unlinking pops it, so both customers get
back exactly the events they had, in their own order; events added after the merge carry no
origin from that merge and stay with the surviving customer. Neither touches an event's stable
id (`threadline_id`, or the id derived from its first owner), which is what readers key on.
"""
from __future__ import annotations

import copy
import heapq
from typing import Any, Dict, List, Tuple

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


def split(events: List[Event], survivor_id: str, merged_id: str) -> Tuple[List[Event], List[Event]]:
    """Undo `combine`: (survivor's events, merged customer's events)."""
    survivor, merged = [], []
    for event in events:
        origins = event.get(ORIGIN) or []
        owner = origins[-1] if origins else None
        if owner not in (survivor_id, merged_id):
            survivor.append(event)  # written after the merge
            continue
        event = copy.deepcopy(event)
        rest = origins[:-1]
        if rest:
            event[ORIGIN] = rest
        else:
            event.pop(ORIGIN, None)
        (merged if owner == merged_id else survivor).append(event)
    return survivor, merged
