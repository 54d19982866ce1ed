"""One IMAP reader per mailbox across servers (connectors/email/reader_lease.py), on real Redis."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from connectors.email.reader_lease import PREFIX, ReadWhileLeased
from tests.support.waiting import wait_for


class RecordingReader:
    """Stands in for ImapReader: what matters here is whether its `run()` is running."""

    def __init__(self) -> None:
        self.running = False
        self.rounds = 0

    async def run(self) -> None:
        self.running, self.rounds = True, self.rounds + 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False


async def test_two_servers_one_reads_and_the_other_takes_over(redis_url):
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    readers = [RecordingReader(), RecordingReader()]
    leases = [ReadWhileLeased(c, "support@shop.example", r, lease_ms=600) for c, r in zip(clients, readers)]
    tasks = [asyncio.create_task(lease.run()) for lease in leases]
    try:
        await wait_for(lambda: any(r.running for r in readers), timeout=5)
        first = next(i for i, r in enumerate(readers) if r.running)
        other = 1 - first
        for _ in range(6):  # several lease lengths: the holder renews, the other never reads
            await asyncio.sleep(0.3)
            assert readers[first].running and not readers[other].running

        # The lease is taken from the holder (it expired while Redis was away, say): it stops
        # reading at its next renewal, and the other server reads once the lease is free.
        await clients[0].set(PREFIX + "support@shop.example", "someone-else", px=600)
        await wait_for(lambda: not readers[first].running, timeout=5)
        await wait_for(lambda: any(r.running for r in readers), timeout=5)
        assert sum(r.running for r in readers) == 1

        # The holder's server stops: it gives the lease back and the other reads within a poll.
        holder = next(i for i, r in enumerate(readers) if r.running)
        tasks[holder].cancel()
        await asyncio.gather(tasks[holder], return_exceptions=True)
        await wait_for(lambda: readers[1 - holder].running, timeout=2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()
