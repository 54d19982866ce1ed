"""`THREADLINE_ACK_REPLICAS` also covers what a turn sent: its send record is on the replicas
before the turn's next message goes out, so a failover cannot make the replayed turn send a
message again (connectors/webhook/records.py). On a real primary and replica (Sentinel)."""
from __future__ import annotations

import logging
import signal

import pytest

from connectors.webhook.records import ChannelRecords, SendSlot
from threadline.conversation.redis_connection import connect
from tests.support.sentinel import SentinelSetup

TURN = "turn:whatsapp:wamid.in-1"


@pytest.fixture(scope="module")
def sentinel():
    setup = SentinelSetup(replicas=1, sentinels=1)
    setup.flush()  # waits for the replica once: its first acknowledgement after the sync is slow (~0.85 s)
    yield setup
    setup.stop()


async def test_the_send_record_is_on_the_replica_when_the_next_message_may_go(sentinel, caplog):
    client = connect(sentinel.url)
    records = ChannelRecords(client, replicas=1, replica_timeout_ms=300)
    [replica_port] = sentinel.replica_ports()
    replica = sentinel._node(replica_port)
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.webhook.records"):
            await records.sent("whatsapp", "wamid.out-1", "cus_r", "5511900000001", slot=SendSlot(TURN, 0))
            assert [r.getMessage() for r in caplog.records] == []
            assert replica.hget(f"tl:out:sends:cus_r:{TURN}", "0") == "wamid.out-1"

            # A replica that does not answer: the wait is bounded by the timeout, and said.
            sentinel.nodes[replica_port].send_signal(signal.SIGSTOP)
            try:
                await records.sent("whatsapp", "wamid.out-2", "cus_r", "5511900000001", slot=SendSlot(TURN, 1))
            finally:
                sentinel.nodes[replica_port].send_signal(signal.SIGCONT)
        [warning] = [r.getMessage() for r in caplog.records]
        assert warning == ("send record of a message to customer cus_r: 0 of 1 replicas hold it after 300 ms; "
                           "a failover now could send it again")
        assert "5511900000001" not in warning  # no address in the logs
    finally:
        replica.close()
        await client.close(close_connection_pool=True)


async def test_without_ack_replicas_nothing_waits(sentinel, caplog):
    client = connect(sentinel.url)
    records = ChannelRecords(client)
    [replica_port] = sentinel.replica_ports()
    sentinel.nodes[replica_port].send_signal(signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.webhook.records"):
            await records.sent("whatsapp", "wamid.out-3", "cus_s", "5511900000002", slot=SendSlot(TURN, 0))
    finally:
        sentinel.nodes[replica_port].send_signal(signal.SIGCONT)
        await client.close(close_connection_pool=True)
    assert not caplog.records
