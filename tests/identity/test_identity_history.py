"""Combining and splitting histories: an unlink gives back exactly what each side had."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from threadline.identity.history import ORIGIN, combine, split

events = st.lists(st.fixed_dictionaries({
    "event": st.sampled_from(["user", "bot", "action", "slot"]),
    "timestamp": st.floats(min_value=0, max_value=1e10, allow_nan=False),
    "text": st.text(max_size=5),
}), max_size=30)


@settings(deadline=None)
@given(events, events)
def test_split_undoes_combine(a, b):
    assert split(combine("cus_a", a, "cus_b", b), "cus_a", "cus_b") == (a, b)


@settings(deadline=None)
@given(events, events)
def test_combined_history_is_in_time_order_when_each_side_is(a, b):
    a = sorted(a, key=lambda e: e["timestamp"])
    b = sorted(b, key=lambda e: e["timestamp"])
    combined = combine("cus_a", a, "cus_b", b)
    assert [e["timestamp"] for e in combined] == sorted(e["timestamp"] for e in a + b)
    assert len(combined) == len(a) + len(b)


@settings(deadline=None)
@given(events, events, events)
def test_chained_merges_unwind_one_at_a_time(a, b, c):
    ab = combine("cus_a", a, "cus_b", b)
    abc = combine("cus_a", ab, "cus_c", c)
    back_ab, back_c = split(abc, "cus_a", "cus_c")
    assert back_c == c
    assert split(back_ab, "cus_a", "cus_b") == (a, b)


def test_events_written_after_the_merge_stay_with_the_survivor():
    combined = combine("cus_a", [{"event": "user", "timestamp": 1}], "cus_b", [{"event": "user", "timestamp": 2}])
    later = {"event": "user", "timestamp": 3, "text": "after"}
    survivor, merged = split(combined + [later], "cus_a", "cus_b")
    assert survivor == [{"event": "user", "timestamp": 1}, later]
    assert merged == [{"event": "user", "timestamp": 2}]
    assert all(ORIGIN not in e for e in survivor + merged)
