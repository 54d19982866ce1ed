"""Retention (`tracker archive`) and import from Rasa's RedisTrackerStore, via bin/threadline."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import redis
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.support.conversations import DOMAIN, comparable, start_session, turn
from threadline.settings import PROJECT_DIR
from threadline.tracker_archive import read_archive

DAY = 86400


def threadline(redis_url: str, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_RETENTION")},
           "REDIS_URL": redis_url, **env_vars}
    return subprocess.run(
        [str(PROJECT_DIR / "bin" / "threadline"), *args, "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )


async def conversation(sessions: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker("x", DOMAIN.slots)
    for number in range(sessions):
        await start_session(tracker)
        tracker.update_with_events(turn(f"session {number}"), DOMAIN)
    return tracker


async def store_aged(store: CustomerTrackerStore, customer: str, ages_in_days: list) -> None:
    """A customer whose session k happened ages_in_days[k] days ago."""
    tracker = await conversation(len(ages_in_days))
    events, session = [], -1
    for event in tracker.events:
        data = event.as_dict()
        session += data["event"] == "action" and data["name"] == "action_session_start"
        data["timestamp"] -= ages_in_days[session] * DAY
        events.append(data)
    await store.rewrite_history(customer, events)


async def test_archive_moves_old_sessions_to_a_file_and_keeps_the_current_one(store, redis_url, tmp_path):
    await store_aged(store, "cus_old", [400, 100, 50, 1])
    await store_aged(store, "cus_all_old", [400, 300])  # the last session always stays
    await store_aged(store, "cus_new", [2, 1])
    before = {c: await store.retrieve(c) for c in ("cus_old", "cus_all_old", "cus_new")}
    old_history = await store.read_history("cus_old")

    result = threadline(redis_url, "tracker", "archive", "--older-than", "30", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["customers"], report["sessions"], report["events"]) == (2, 4, 4 * 7)

    records = read_archive(Path(report["file"]))
    archived = {(r["customer_id"], next(e["text"] for e in r["events"] if e["event"] == "user")) for r in records}
    assert archived == {("cus_old", "session 0"), ("cus_old", "session 1"), ("cus_old", "session 2"),
                        ("cus_all_old", "session 0")}
    # Nothing is lost: archive + what remains is the old history, in order.
    cus_old_archived = [e for r in records if r["customer_id"] == "cus_old" for e in r["events"]]
    assert cus_old_archived + await store.read_history("cus_old") == old_history

    for customer, tracker in before.items():
        assert comparable(await store.retrieve(customer)) == comparable(tracker)

    # Offsets stay consistent after the trim: the next session is found by retrieve.
    tracker = await store.retrieve("cus_old")
    await start_session(tracker)
    tracker.update_with_events(turn("after archive"), DOMAIN)
    await store.save(tracker)
    current = await store.retrieve("cus_old")
    assert [e.text for e in current.events if e.type_name == "user"] == ["after archive"]
    assert (await store.layout("cus_old")).base == 3 * 7  # 7 events per session

    again = json.loads(threadline(redis_url, "tracker", "archive", "--older-than", "30", "--dir", str(tmp_path)).stdout)
    assert again["sessions"] == 0


async def test_the_retention_policy_comes_from_the_environment(store, redis_url, tmp_path):
    await store_aged(store, "cus_policy", [90, 40, 10, 1])

    unset = threadline(redis_url, "tracker", "archive")
    assert unset.returncode == 2 and "no retention policy" in unset.stderr and "THREADLINE_RETENTION_DAYS" in unset.stderr
    wrong = threadline(redis_url, "tracker", "archive", THREADLINE_RETENTION_DAYS="a month")
    assert wrong.returncode == 2 and "must be a number of days" in wrong.stderr
    assert len(await store.read_history("cus_policy")) == 4 * 7  # nothing moved on refusal

    result = threadline(redis_url, "tracker", "archive", THREADLINE_RETENTION_DAYS="30",
                        THREADLINE_ARCHIVE_DIR=str(tmp_path / "kept"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert Path(report["file"]).parent == tmp_path / "kept" and (report["sessions"], report["events"]) == (2, 14)
    assert [next(e["text"] for e in r["events"] if e["event"] == "user") for r in read_archive(Path(report["file"]))] \
        == ["session 0", "session 1"]
    remaining = [e["text"] for e in await store.read_history("cus_policy") if e["event"] == "user"]
    assert remaining == ["session 2", "session 3"]
    # --older-than still overrides the policy for one run.
    again = json.loads(threadline(redis_url, "tracker", "archive", "--older-than", "5", "--dir", str(tmp_path),
                                  THREADLINE_RETENTION_DAYS="30").stdout)
    assert again["sessions"] == 1


def rasa_store(redis_url: str, prefix: str = "legacy") -> RedisTrackerStore:
    parts = urlparse(redis_url)
    return RedisTrackerStore(DOMAIN, host=parts.hostname, port=parts.port, key_prefix=prefix)


async def test_import_from_rasas_redis_store(store, redis_url):
    legacy = rasa_store(redis_url)
    for customer, sessions in (("cus_ana", 3), ("cus_bo", 1)):
        tracker = await conversation(sessions)
        tracker.sender_id = customer
        await legacy.save(tracker)
    redis.Redis.from_url(redis_url).set("legacy:tracker:cus_broken", "{not json")

    result = threadline(redis_url, "tracker", "import-rasa", "--redis-url", redis_url, "--key-prefix", "legacy")
    report = json.loads(result.stdout)
    assert result.returncode == 1  # one conversation could not be read: say so
    assert set(report["imported"]) == {"cus_ana", "cus_bo"}
    assert list(report["failed"]) == ["cus_broken"]

    for customer in ("cus_ana", "cus_bo"):
        assert comparable(await store.retrieve(customer)) == comparable(await legacy.retrieve(customer))
        assert comparable(await store.retrieve_full_tracker(customer)) == comparable(
            await legacy.retrieve_full_tracker(customer))
    assert len((await store.layout("cus_ana")).session_starts) == 3

    rerun = json.loads(threadline(redis_url, "tracker", "import-rasa", "--redis-url", redis_url,
                                  "--key-prefix", "legacy").stdout)
    assert rerun["imported"] == {} and sorted(rerun["skipped_existing"]) == ["cus_ana", "cus_bo"]
    assert redis.Redis.from_url(redis_url).exists("legacy:tracker:cus_ana")  # source untouched
