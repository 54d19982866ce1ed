"""Reconciliation of the CRM timeline by one leader, incrementally (threadline/crm/timeline_worker.py),
on real Redis and the CRM database: several workers, one reconciles; it visits only the customers
changed since its cursor; a killed leader's lease lapses and another worker takes over."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import redis.asyncio as aioredis

from tests.crm.test_timeline import say, summary
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.crm.timeline_worker import GROUP, TimelineWorker
from threadline.settings import PROJECT_DIR


async def test_only_the_leader_reconciles_and_only_what_changed(store, crm, redis_url):
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    workers = [TimelineWorker(client, crm.crm, block_ms=10, leader_lease_ms=60_000) for client in clients]
    try:
        await workers[0].ensure_group()
        for customer in ("cus_ana", "cus_bia", "cus_caio"):
            await say(store, customer, "sms", f"hi from {customer}", "hello", f"SM-{customer}")
        led = [await worker.lead() for worker in workers]
        assert led == [True, False]
        first, second = workers

        # First run, no cursor: every customer once, in batches.
        await first.reconcile()
        assert (first.status.reconciled_customers, first.status.full_reconciliations) == (3, 1)
        assert summary(await crm.crm.timeline("cus_bia")) == [("customer", "sms", "hi from cus_bia"), ("bot", "sms", "hello")]

        # A notification the live path never handled (the consumer group was reset past it):
        # the leader's next pass syncs that customer, and only that one.
        await say(store, "cus_ana", "whatsapp", "where is my order?", "on its way", "wa-2")
        await clients[0].xgroup_setid(first.stream, GROUP, "$")
        assert await first.process_once(pending=False) == 0
        assert await second.lead() is False
        await first.reconcile()
        assert (first.status.reconciled_customers, first.status.full_reconciliations) == (4, 1)
        assert summary(await crm.crm.timeline("cus_ana"))[-2:] == [
            ("customer", "whatsapp", "where is my order?"), ("bot", "whatsapp", "on its way")]
        await first.reconcile()  # nothing changed since: nobody is visited
        assert first.status.reconciled_customers == 4 and second.status.reconciled_customers == 0

        # The leader stops cleanly: it gives the lease back and the other leads at its next try.
        await first.resign()
        assert await second.lead() is True and await first.lead() is False
    finally:
        for client in clients:
            await client.close(close_connection_pool=True)


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return json.loads(response.read())


def healthy(port: int) -> dict:
    try:
        return health(port)
    except OSError:
        return {}


async def test_a_killed_leader_is_replaced(redis_url, crm_url, tmp_path):
    ports = [free_port(), free_port()]
    processes = []
    for index, port in enumerate(ports):
        env = {**os.environ, "REDIS_URL": redis_url, "CRM_DATABASE_URL": crm_url, "CRM_TIMELINE_PORT": str(port),
               "CRM_TIMELINE_LEADER_LEASE_MS": "1500", "CRM_TIMELINE_RECONCILE_S": "0.5"}
        with open(tmp_path / f"timeline-{index}.log", "ab") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", "threadline.crm.timeline_worker"], env=env,
                                              cwd=PROJECT_DIR, stdout=log, stderr=log, start_new_session=True))
    try:
        await wait_for(lambda: all(healthy(port) for port in ports), timeout=60, interval=0.2)
        leaders = await wait_for(lambda: [i for i, port in enumerate(ports) if health(port)["leader"]], timeout=10)
        assert len(leaders) == 1
        leader = leaders[0]
        other = 1 - leader
        assert not health(ports[other])["leader"]

        os.kill(processes[leader].pid, signal.SIGKILL)  # no clean stop: its lease must lapse
        # Within one lease length (1.5 s) plus one renewal period of the survivor; 10 s is slack.
        await wait_for(lambda: health(ports[other])["leader"], timeout=10, interval=0.1)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
