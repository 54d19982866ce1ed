"""Longest test files first, so that no whole-system run is left for the end of `make test`.

`make test-unit` runs pytest-xdist with `--dist loadfile`: each test file whole on one worker.
xdist hands the files out by their number of tests, most first, which put the few files with
one long test (tests/faults/test_two_workers.py: ~5 minutes) at the very end, running alone
while the other worker sat idle. Here the files are ordered by how long they are expected to
take instead, and the scheduler keeps that order: first by their longest test's
`slow(minutes=N)` mark (N is 1 when not given; a test without the mark counts as 0), then by
how many of their tests are marked slow (those of a file mostly share one start-up).

A worker that dies (a test past its time limit ends it: pytest.ini's `timeout_method = thread`)
has its test reported as failed, and the run goes on without it. xdist 3.5 alone puts every file
the dead worker had back in the queue, finished ones too, and the crashed test with them; the
replacement worker was handed a finished file (no test to run) or a single test (which a worker
holds until it gets more), never asked for more, and the run hung with no summary.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Tuple

import pytest
from xdist.scheduler import LoadFileScheduling


def expected_minutes(item: pytest.Item) -> float:
    mark = item.get_closest_marker("slow")
    return 0.0 if mark is None else float(mark.kwargs.get("minutes", 1))


def longest_files_first(items: List[pytest.Item]) -> None:
    """Sort `items` in place, the files expected to take longest first; the order of the tests
    within a file, and of files expected to take as long, stays as collected."""
    weight: Dict[str, Tuple[float, int]] = defaultdict(lambda: (0.0, 0))
    for item in items:
        longest, slow_tests = weight[_file_of(item)]
        minutes = expected_minutes(item)
        weight[_file_of(item)] = (max(longest, minutes), slow_tests + (minutes > 0))
    items.sort(key=lambda item: tuple(-part for part in weight[_file_of(item)]))


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


class CollectionOrderFileScheduling(LoadFileScheduling):
    """`--dist loadfile` handing the files out in the order the workers collected them (see
    `longest_files_first`) rather than by their number of tests."""

    _ordered = False
    _distributed = False

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:  # the first assignment: the work queue has just been built
            position = {scope: index for index, scope in
                        enumerate(dict.fromkeys(self._split_scope(nodeid) for nodeid in self.collection))}
            for scope in sorted(self.workqueue, key=position.__getitem__):
                self.workqueue.move_to_end(scope)
            self._ordered = True
        self._drop_finished_files()
        if not self.workqueue:
            if not self._pending_of(self.assigned_work[node]):
                node.shutdown()
            return
        super()._assign_work_unit(node)
        # A worker holds its last test back until it is sent more or told to stop (the test's
        # teardown depends on the next one): one test alone would wait for ever.
        # (The first distribution gives every worker two files itself.)
        if self._distributed and self._pending_of(self.assigned_work[node]) < 2 and self.workqueue:
            super()._assign_work_unit(node)

    def schedule(self) -> None:
        super().schedule()
        self._distributed = self.collection is not None

    def remove_node(self, node):
        crashed = super().remove_node(node)
        if crashed is not None:  # reported as failed: not run again
            for work_unit in self.workqueue.values():
                if crashed in work_unit:
                    work_unit[crashed] = True
            self._drop_finished_files()
        return crashed

    def _drop_finished_files(self) -> None:
        for scope in [scope for scope, work_unit in self.workqueue.items() if all(work_unit.values())]:
            del self.workqueue[scope]
