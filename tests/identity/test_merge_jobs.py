"""Durable merges: a verified claim's merge is a job in the CRM that survives the process
running it being killed half-way (failpoint during_merge) and is finished by the next run,
with no duplicate rows and both histories combined exactly once. Real CRM database (SQLite
and PostgreSQL), real Redis, the job runner as a separate process."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy import func, select

from tests.identity.helpers import save_turns, user_texts
from tests.support.processes import PROJECT, action_server
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.crm import Database
from threadline.conversation import failpoints
from threadline.conversation.event_ids import event_id
from threadline.crm.models import AuditEntry, Customer, IdentityClaim, Interaction, MergeJob, Opportunity
from threadline.crm.models.base import utcnow
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline_worker import CURSOR_KEY, TimelineWorker
from threadline.identity.claims import ClaimIdentity, VerifyClaim
from threadline.identity.merge_jobs import enqueue
from threadline.identity.services import IdentityServices

ANA_TURNS = [(1000.0, "a1"), (3000.0, "a2"), (5000.0, "a3")]
BIA_TURNS = [(2000.0, "b1"), (4000.0, "b2")]


async def run_jobs_process(env: dict) -> subprocess.CompletedProcess:
    """`python -m threadline.identity.merge_jobs` (the action server's sweep, once) in its own process."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "threadline.identity.merge_jobs"], cwd=PROJECT,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=180)


async def sync_timeline(services: IdentityServices, *, from_scratch: bool = False) -> None:
    client = aioredis.Redis.from_url(services.redis_url)
    try:
        worker = TimelineWorker(client, SqlCrm(services.db))
        if from_scratch:
            await client.delete(CURSOR_KEY)
        await worker.reconcile()
    finally:
        await client.close(close_connection_pool=True)


async def crm_state(services: IdentityServices) -> dict:
    def read(session):
        interactions = session.execute(select(Interaction.customer_id, Interaction.idempotency_key)).all()
        return {
            "interactions": Counter(customer for customer, _ in interactions),
            "duplicate_keys": len(interactions) - len({key for _, key in interactions}),
            "opportunities": Counter(session.scalars(select(Opportunity.customer_id)).all()),
            "merges": session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "merge")),
        }

    return await services.db.run(read)


async def two_customers(services: IdentityServices):
    ana = await services.resolver.resolve("whatsapp", "5511987654321")
    bia = await services.resolver.resolve("instagram", "17841400000000001")
    await save_turns(services.histories, ana, ANA_TURNS)
    await save_turns(services.histories, bia, BIA_TURNS)
    await SqlCrm(services.db).touch_opportunity(bia, product="Tênis Corrida", channel="instagram")
    await sync_timeline(services)
    return ana, bia


async def test_a_merge_job_killed_during_the_merge_is_finished_by_the_next_run(services, crm_url, redis_url, tmp_path):
    ana, bia = await two_customers(services)
    before = await crm_state(services)
    assert before["interactions"] == {ana: 6, bia: 4} and before["opportunities"] == {bia: 1}
    job_id = await services.db.run(lambda s: enqueue(
        s, ana, bia, actor=f"customer:{bia}", reason="verified one-time code"))
    env = {"CRM_DATABASE_URL": crm_url, "REDIS_URL": redis_url, "THREADLINE_LOCK_LIFETIME": "2",
           "THREADLINE_FAILPOINTS": "during_merge=1", "THREADLINE_FAILPOINTS_DIR": str(tmp_path / "failpoints")}

    killed = await run_jobs_process(env)
    assert killed.returncode == failpoints.EXIT_CODE, killed.stderr[-2000:]
    assert (tmp_path / "failpoints" / "during_merge.fired").exists()
    # Killed half-way: the CRM rows moved, the conversation log not combined yet.
    half = await services.db.run(lambda s: (s.get(Customer, bia).merged_into, s.get(MergeJob, job_id).status,
                                            s.get(MergeJob, job_id).attempts))
    assert half == (ana, "pending", 1)
    assert (await crm_state(services))["opportunities"] == {ana: 1}
    assert user_texts(await services.histories.read_history(bia)) == ["b1", "b2"]

    finished = await run_jobs_process(env)  # the restarted process (the failpoint fired once per run)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "1 done" in finished.stdout
    job = await services.db.run(lambda s: (s.get(MergeJob, job_id).status, s.get(MergeJob, job_id).attempts,
                                           s.get(MergeJob, job_id).audit_id is not None))
    assert job == ("done", 2, True)

    combined = await services.histories.read_history(ana)
    assert user_texts(combined) == ["a1", "b1", "a2", "b2", "a3"]  # each message once, in time order
    ids = [event_id(ana, event) for event in combined]
    assert len(ids) == len(set(ids))
    assert await services.histories.read_history(bia) == []
    assert await services.resolver.resolve("instagram", "17841400000000001") == ana

    await sync_timeline(services)
    await sync_timeline(services, from_scratch=True)  # a full replay on top
    after = await crm_state(services)
    assert after == {"interactions": {ana: 10}, "duplicate_keys": 0, "opportunities": {ana: 1}, "merges": 1}

    again = await run_jobs_process(env)
    assert again.returncode == 0 and "0 run" in again.stdout


async def test_a_verified_claim_writes_its_merge_job_with_the_verification(services, code_sender, claim_limits):
    ana = await services.resolver.resolve("email", "Ana Souza <ana@example.com>")
    stranger = await services.resolver.resolve("instagram", "17841400000000001")
    await save_turns(services.histories, stranger, [(2000.0, "I'm ana@example.com")])
    await ClaimIdentity(services.db, code_sender, claim_limits)(stranger, "ana@example.com")
    verify = VerifyClaim(services.db, services.index, services.merge())

    async with services.locks.lock(stranger):  # inside the turn: the merge waits for the lock
        outcome = await verify(stranger, code_sender.sent[-1][2], defer_merge=True)
        assert outcome.customer_id == ana
        pending = await services.db.run(lambda s: [
            (j.survivor_id, j.merged_id, j.status, s.get(IdentityClaim, j.claim_id).status) for j in s.query(MergeJob)])
        assert pending == [(ana, stranger, "pending", "verified")]
    await asyncio.wait_for(verify.settle(), 20)
    done = await services.db.run(lambda s: [(j.status, j.audit_id is not None) for j in s.query(MergeJob)])
    assert done == [("done", True)]
    assert user_texts(await services.histories.read_history(ana)) == ["I'm ana@example.com"]


async def test_a_job_that_cannot_reach_redis_is_retried_later_and_one_that_finds_its_merge_done_finishes(
        services, crm_url):
    ana, bia = await two_customers(services)
    job_id = await services.db.run(lambda s: enqueue(s, ana, bia, actor="ops", reason="same person"))
    away = IdentityServices(services.db, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    outcome = await away.merge_jobs().run(job_id)
    assert outcome.status == "pending"
    job = await services.db.run(lambda s: s.get(MergeJob, job_id))
    assert job.attempts == 1 and job.next_attempt_at > utcnow() + timedelta(seconds=1) and job.last_error
    assert await services.merge_jobs().due() == []  # backing off

    await services.merge()(ana, bia, actor="agent:carla", reason="merged by hand meanwhile")
    finished = await services.merge_jobs().run(job_id)
    assert finished.status == "done"
    assert user_texts(await services.histories.read_history(ana)) == ["a1", "b1", "a2", "b2", "a3"]
    assert (await crm_state(services))["merges"] == 1


async def test_the_action_server_finishes_pending_merge_jobs_when_it_starts(channel_env, crm_url, redis_url, tmp_path):
    """The process that verified a claim died before merging: the restarted action server (as
    `make run` starts it) runs the job in its start-up sweep."""
    services = IdentityServices(Database(crm_url), redis_url)
    try:
        ana, bia = await two_customers(services)
        job_id = await services.db.run(lambda s: enqueue(s, ana, bia, actor=f"customer:{bia}", reason="verified code"))
        with action_server({**channel_env, "CRM_DATABASE_URL": crm_url, "REDIS_URL": redis_url}, tmp_path / "actions.log"):
            await wait_for(lambda: services.db.run(lambda s: s.get(MergeJob, job_id).status == "done"), timeout=60)
        assert user_texts(await services.histories.read_history(ana)) == ["a1", "b1", "a2", "b2", "a3"]
        assert await services.histories.read_history(bia) == []
    finally:
        await services.close()
