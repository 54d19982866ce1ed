"""`make test-unit`'s order (tests/support/scheduling.py): under `-n 2 --dist loadfile` the
file marked as the longest starts first, ahead of files with more tests, and each file still
runs whole on one worker; a worker that dies fails its test and the run goes on without it."""
from __future__ import annotations

import json
from collections import defaultdict

from tests.support.processes import PROJECT

pytest_plugins = "pytester"

CONFTEST = """
import json, os, pytest
from tests.support.scheduling import CollectionOrderFileScheduling, longest_files_first

def pytest_collection_modifyitems(items):
    longest_files_first(items)

@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return CollectionOrderFileScheduling(config, log) if config.getvalue("dist") == "loadfile" else None

@pytest.fixture(autouse=True)
def journal(request):
    with open(os.environ["JOURNAL"], "a") as out:
        out.write(json.dumps([os.environ["PYTEST_XDIST_WORKER"], request.node.nodeid]) + "\\n")
"""


def test_the_longest_file_starts_first_and_files_stay_whole(pytester, tmp_path, monkeypatch):
    pytester.makeini("[pytest]\nmarkers =\n    slow(minutes=N): long\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a_many="\n".join(f"def test_{n}(): pass" for n in range(8)),
        test_b_some="\n".join(f"def test_{n}(): pass" for n in range(4)),
        test_c_one_slow="import pytest\n\n@pytest.mark.slow\ndef test_slow(): pass\n",
        test_z_longest="import pytest\n\n@pytest.mark.slow(minutes=5)\ndef test_long(): pass\n",
    )
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv("JOURNAL", str(journal))
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))

    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=14)
    started = [json.loads(line) for line in journal.read_text().splitlines()]
    first_of_worker = {}
    files_of_worker = defaultdict(set)
    for worker, nodeid in started:
        first_of_worker.setdefault(worker, nodeid)
        files_of_worker[worker].add(nodeid.split("::")[0])
    # xdist alone would start test_a_many.py and test_b_some.py (most tests) and leave the single tests for later.
    assert sorted(first_of_worker.values()) == ["test_c_one_slow.py::test_slow", "test_z_longest.py::test_long"]
    assert sum(len(files) for files in files_of_worker.values()) == 4  # no file split across workers


def test_a_worker_killed_by_the_time_limit_fails_its_test_and_the_run_finishes(pytester, tmp_path, monkeypatch):
    pytester.makeini("[pytest]\ntimeout_method = thread\nmarkers =\n    slow(minutes=N): long\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a_hangs="import pytest, time\n\n@pytest.mark.slow(minutes=5)\n@pytest.mark.timeout(2)\n"
                     "def test_hangs(): time.sleep(120)\n\ndef test_after(): pass\n",
        **{f"test_f{n}": "import time\n\ndef test_one(): time.sleep(0.3)\n\ndef test_two(): pass\n"
           for n in range(5)},
    )
    monkeypatch.setenv("JOURNAL", str(tmp_path / "journal.jsonl"))
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))

    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", timeout=100)

    result.assert_outcomes(passed=11, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_a_hangs.py::test_hangs*"])
    started = [json.loads(line)[1] for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert started.count("test_a_hangs.py::test_hangs") == 1  # not run again on the replacement worker
