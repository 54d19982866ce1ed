"""Merges on the real stack, as a customer makes one: Ana writes on WhatsApp; someone on
Instagram says "it's me, +55 11 98765-0001", gets a code on Ana's WhatsApp (the sandbox shows
it) and types it on Instagram. The merge that follows is killed at `during_merge` (CRM rows
moved, conversation log not yet merged) and must still complete once the launcher restarted
the process: one customer, every message once in the tracker and once in the CRM timeline.
Then a full timeline replay adds no row, and an unmerge leaves none of the Instagram
person's messages from before the merge in Ana's timeline or log (what either wrote after the
merge stays with Ana, as docs/identity.md says).
"""
from __future__ import annotations

import json
import os
import re
import signal
from typing import List, Optional

import pytest
import redis

from tests.faults.checks import assert_each_message_once, exchange, quiet, timeline_caught_up
from tests.foundation.test_launcher import alive
from tests.foundation.test_supervision import pid_running
from tests.support.stack import Stack, turns, wait_until
from threadline.conversation import failpoints
from threadline.crm.timeline_worker import CURSOR_KEY

pytestmark = pytest.mark.slow

ANA_WA, CLAIMANT_IG = "5511987650001", "17841400000000777"
TIMELINE = "threadline.crm.timeline_worker"


def code_sent_to(stack: Stack, address: str) -> Optional[str]:
    for message in reversed(stack.conversation("whatsapp", address)):
        found = re.search(r"verification code is (\d{6})", message.get("text") or "")
        if message["direction"] == "out" and found:
            return found.group(1)
    return None


def owners(stack: Stack, channel: str, address: str) -> List[str]:
    """The customers whose logs hold user messages from this address."""
    return [customer for customer, events in stack.all_events().items()
            if any(e.get("event") == "user" and (e.get("metadata") or {}).get("address") == address
                   for e in events)]


def test_a_merge_killed_halfway_completes_once_and_an_unmerge_takes_the_other_person_out(stack):
    ana_ids = [exchange(stack, ANA_WA, "hello")]
    ana = stack.customer_of("whatsapp", ANA_WA)
    claimant_ids = [exchange(stack, CLAIMANT_IG, "hello", "instagram")]
    claimant = stack.customer_of("instagram", CLAIMANT_IG)
    assert claimant != ana
    claimant_ids.append(exchange(stack, CLAIMANT_IG, "it's me, +55 11 98765-0001", "instagram"))
    code = wait_until(lambda: code_sent_to(stack, ANA_WA), 60, "the code on Ana's WhatsApp")
    quiet(stack)

    stack.arm_next(failpoints.DURING_MERGE)
    claimant_ids.append(exchange(stack, CLAIMANT_IG, code, "instagram"))
    assert "that's confirmed" in stack.bot_messages("instagram", CLAIMANT_IG)[-1]
    killed = stack.wait_fired(failpoints.DURING_MERGE, 60)
    wait_until(lambda: not alive(killed), 30, "the process killed mid-merge to be gone")
    wait_until(lambda: stack.log_lines(f"exited (exit {failpoints.EXIT_CODE})"), 30, "the launcher to see it die")
    # The merge is finished by the restarted process: one customer holds both histories.
    wait_until(lambda: owners(stack, "instagram", CLAIMANT_IG) == [ana], 180,
               "the claimant's messages to be in Ana's log only")

    claimant_ids.append(exchange(stack, CLAIMANT_IG, "thanks", "instagram"))
    ana_ids.append(exchange(stack, ANA_WA, "are you a bot?"))
    quiet(stack)
    assert stack.customer_of("instagram", CLAIMANT_IG) == ana
    assert_each_message_once(stack, "instagram", CLAIMANT_IG, claimant_ids)
    assert_each_message_once(stack, "whatsapp", ANA_WA, ana_ids, not_from_turns=1)  # + the code
    user_ids = [t.provider_message_id for t in turns(stack.events(ana))]
    assert sorted(user_ids) == sorted(ana_ids + claimant_ids), "a message lost or doubled by the merge"
    timeline_caught_up(stack, ana)
    assert stack.crm_rows(claimant) == []  # moved to Ana, not copied
    rows_after_merge = stack.crm_rows()

    # A full replay of the timeline (cursor gone, worker restarted: it reads every log from 0).
    client = redis.Redis.from_url(stack.redis.url)
    try:
        client.delete(CURSOR_KEY)
        worker = pid_running(stack.run.process.pid, TIMELINE)
        os.kill(worker, signal.SIGKILL)
        log_end = len(stack.events(ana))
        wait_until(lambda: (raw := client.hget(CURSOR_KEY, ana)) and json.loads(raw)[0] >= log_end, 120,
                   "the restarted timeline worker to replay Ana's whole log")
    finally:
        client.close()
    assert stack.crm_rows() == rows_after_merge, "a full timeline replay after a merge added rows"

    # Unmerge: every message of the Instagram person, those the merge brought in and the one
    # written from their Instagram after it, leaves Ana's log and timeline (docs/identity.md).
    stack.cli("unlink", "--customer", claimant, "--by", "fault-suite", "--reason", "merged by mistake")
    wait_until(lambda: not [row for row in stack.crm_rows(ana) if row[3] in claimant_ids], 120,
               "the claimant's messages to leave Ana's CRM timeline")
    assert sorted(t.provider_message_id for t in turns(stack.events(ana))) == sorted(ana_ids)
    assert sorted(row[3] for row in stack.crm_rows(ana) if row[1] == "customer") == sorted(ana_ids)
    assert [t.provider_message_id for t in turns(stack.events(claimant))] == claimant_ids
    wait_until(lambda: sorted(row[3] for row in stack.crm_rows(claimant) if row[1] == "customer")
               == sorted(claimant_ids), 60, "the claimant's rows to be the claimant's again")
