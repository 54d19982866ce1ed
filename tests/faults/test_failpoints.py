"""Every failpoint on the real stack (tests/support/stack.py: the launcher as `make run` runs it,
its own Redis, the trained model, the sandbox provider): a process ends at the point, the
launcher starts it again, and then a customer sees every message answered exactly once, the
tracker holds each message once, the CRM timeline has one row per message, and the
customer's next message is answered.

One stack serves the whole module; each scenario is its own customer, and a point is armed
only once the earlier scenarios are quiet (their delivery receipts consumed), so it fires in
the scenario's own turn.
"""
from __future__ import annotations

from typing import List, Tuple

import pytest

from tests.foundation.test_supervision import pid_running
from tests.support.stack import Stack, turns, wait_until
from threadline.conversation import failpoints
from threadline.training import model_path

pytestmark = pytest.mark.slow

WORKER_POINTS = (failpoints.AFTER_PROVIDER_SEND, failpoints.AFTER_TRACKER_SAVE, failpoints.BEFORE_INBOX_ACK)
TIMELINE = "threadline.crm.timeline_worker"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    assert model_path().is_file(), "train first: make train"
    with Stack(tmp_path_factory.mktemp("fault-stack")) as running:
        yield running


def exchange(stack: Stack, address: str, text: str, channel: str = "whatsapp") -> str:
    """The customer writes and waits for the bot's next message; returns the provider id."""
    before = len(stack.bot_messages(channel, address))
    message_id = stack.say(channel, address, text)
    wait_until(lambda: len(stack.bot_messages(channel, address)) > before, 300,
               f"an answer to {text!r} from {address}")
    return message_id


def quiet(stack: Stack) -> None:
    """Nothing in flight on WhatsApp: every sent message's receipts were consumed, so the next
    inbox entry is the customer's next message. (Instagram's only receipt is an echo, which
    records nothing a test can wait for; no scenario arms an inbox point on Instagram.)"""
    wait_until(lambda: stack.delivered("whatsapp"), 60, "every WhatsApp receipt to be consumed")


def timeline_caught_up(stack: Stack, customer_id: str) -> List[Tuple[str, str, str]]:
    """The CRM rows of the customer once they mirror every message of its log: (author, text,
    provider id) each, in log order; fails if rows are missing or extra."""
    expected = expected_rows(stack, customer_id)

    def rows():
        return [(author, text, provider_id) for _, author, text, provider_id in stack.crm_rows(customer_id)]

    def complete():
        now = rows()
        return now if len(now) >= len(expected) else None

    try:
        found = wait_until(complete, 60, f"the CRM timeline of {customer_id} to catch up")
    except AssertionError as waited:
        raise AssertionError(f"{waited}: {len(rows())} rows for {len(expected)} messages; missing "
                             f"{[row for row in expected if row not in rows()]}") from None
    assert sorted(found, key=repr) == sorted(expected, key=repr), "CRM timeline rows differ from the log"
    return found


def expected_rows(stack: Stack, customer_id: str) -> List[Tuple[str, str, str]]:
    rows = []
    for turn in turns(stack.events(customer_id)):
        rows.append(("customer", turn.text, turn.provider_message_id))
        rows.extend(("bot", text, None) for text in turn.bot_texts)
    return rows


def assert_each_message_once(stack: Stack, channel: str, address: str, sent_ids: List[str],
                             not_from_turns: int = 0) -> str:
    """The tracker has each message once, in order, each answered; the provider received each
    answer once. `not_from_turns`: messages the bot sent outside turns (claim codes)."""
    customer_id = stack.customer_of(channel, address)
    held = [t for t in turns(stack.events(customer_id))
            if t.provider_message_id in sent_ids]
    assert [t.provider_message_id for t in held] == sent_ids, "a message lost or held twice by the tracker"
    assert all(t.bot_texts for t in held), "a message never answered"
    answered = [text for t in held for text in t.bot_texts]
    received = stack.bot_messages(channel, address)
    assert len(received) - not_from_turns == len(answered), \
        f"the provider received {len(received)} messages for {len(answered)} answers"
    assert [text for text in received if text in answered] == answered, "an answer sent twice or out of order"
    return customer_id


@pytest.mark.parametrize("point", WORKER_POINTS)
def test_an_inbox_worker_that_dies_at_the_point_loses_and_repeats_nothing(stack, point):
    address = f"55119555{WORKER_POINTS.index(point):05d}"
    first = exchange(stack, address, "hello")
    quiet(stack)
    worker = stack.worker_pid()

    stack.arm_next(point)
    crashed = stack.say("whatsapp", address, "are you a bot?")
    assert stack.wait_fired(point, 60) == worker
    restarted = stack.wait_for_new_worker(worker)
    assert restarted != worker
    assert stack.log_lines(f"inbox worker exited (exit {failpoints.EXIT_CODE})")
    wait_until(lambda: len(stack.bot_messages("whatsapp", address)) >= 2, 120, "the crashed turn's answer")

    after = exchange(stack, address, "thanks")  # the next message is answered
    quiet(stack)
    customer_id = assert_each_message_once(stack, "whatsapp", address, [first, crashed, after])
    timeline_caught_up(stack, customer_id)


def test_a_timeline_worker_that_dies_before_its_commit_writes_each_row_once(stack):
    address = "5511955500010"
    first = exchange(stack, address, "hello")
    customer_id = stack.customer_of("whatsapp", address)
    timeline_caught_up(stack, customer_id)
    worker = pid_running(stack.run.process.pid, TIMELINE)

    stack.arm_next(failpoints.BEFORE_TIMELINE_COMMIT)
    crashed = exchange(stack, address, "are you a bot?")  # the bot answers, whatever the CRM does
    assert stack.wait_fired(failpoints.BEFORE_TIMELINE_COMMIT, 60) == worker
    wait_until(lambda: (pid := _pid_or_none(stack, TIMELINE)) and pid != worker, 120,
               "the timeline worker to be restarted")

    after = exchange(stack, address, "thanks")
    quiet(stack)
    assert_each_message_once(stack, "whatsapp", address, [first, crashed, after])
    rows = timeline_caught_up(stack, customer_id)
    customer_ids = [provider_id for author, _, provider_id in rows if author == "customer"]
    assert customer_ids == [first, crashed, after]


def _pid_or_none(stack: Stack, module: str):
    try:
        return pid_running(stack.run.process.pid, module)
    except ValueError:  # between the old process's end and the new one's start
        return None
