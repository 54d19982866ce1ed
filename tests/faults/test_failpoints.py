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

import pytest

from tests.faults.checks import assert_each_message_once, exchange, quiet, timeline_caught_up
from tests.foundation.test_supervision import pid_running
from tests.support.stack import Stack, wait_until
from threadline.conversation import failpoints

pytestmark = pytest.mark.slow

WORKER_POINTS = (failpoints.AFTER_PROVIDER_SEND, failpoints.AFTER_TRACKER_SAVE, failpoints.BEFORE_INBOX_ACK)
TIMELINE = "threadline.crm.timeline_worker"


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
