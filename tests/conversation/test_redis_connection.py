"""The one Redis connection factory: the URL forms it takes, the errors naming the variable,
and riding through a Redis restart instead of failing the command at once."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from tests.conversation.test_tracker_store import play
from tests.support.conversations import DOMAIN, turn
from tests.support.lossy_proxy import ReplyLosingProxy
from tests.support.redis_server import free_port
from tests.support.sentinel import SentinelSetup
from tests.support.waiting import wait_for
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.conversation.redis_connection import (BadRedisUrl, connect, connect_sync,
                                                      parse_sentinel_url, redacted)


@pytest.mark.parametrize("url, why", [
    ("http://127.0.0.1:6379/0", "is not a Redis URL"),
    ("redis://127.0.0.1:port/0", "invalid port"),
    ("redis+sentinel://127.0.0.1/threadline", "each sentinel is host:port"),
    ("redis+sentinel://127.0.0.1:26379", "/service_name"),
    ("redis+sentinel://127.0.0.1:26379/threadline/first", "the database is a number"),
    ("redis+sentinel://127.0.0.1:26379/threadline?password=x", "the only option is sentinel_password"),
])
def test_a_bad_url_is_refused_naming_the_variable(url, why):
    with pytest.raises(BadRedisUrl, match=why) as refused:
        connect(url, variable="REDIS_URL")
    assert str(refused.value).startswith("REDIS_URL: ")
    with pytest.raises(BadRedisUrl, match=why):
        connect_sync(url, variable="REDIS_URL")


def test_a_missing_url_names_the_variable():
    with pytest.raises(BadRedisUrl, match="^REDIS_URL: no Redis URL"):
        connect("", variable="REDIS_URL")


def test_sentinel_url_parts_and_password_hidden_in_messages():
    url = "redis+sentinel://:s3cret@10.0.0.1:26379,sentinel-b:26380/threadline/2?sentinel_password=s%40nt"
    address = parse_sentinel_url(url)
    assert address.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26380))
    assert (address.service_name, address.db, address.password) == ("threadline", 2, "s3cret")
    assert address.sentinel_password == "s@nt"
    assert redacted(url) == "redis+sentinel://:***@10.0.0.1:26379,sentinel-b:26380/threadline/2?sentinel_password=***"
    with pytest.raises(BadRedisUrl) as refused:
        connect("redis+sentinel://:s3cret@10.0.0.1/threadline")
    assert "s3cret" not in str(refused.value)


async def test_plain_url_and_unix_socket_reach_the_same_server(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="threadline-redis-unix-"))
    socket_path, port = folder / "redis.sock", free_port()
    server = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                               "--unixsocket", str(socket_path), "--save", "", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_for(socket_path.exists)
        over_tcp, over_socket = connect(f"redis://127.0.0.1:{port}/3"), connect(f"unix://{socket_path}?db=3")
        await over_tcp.set("greeting", "olá")
        assert await over_socket.get("greeting") == "olá".encode()
        await over_tcp.close()
        await over_socket.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_command_rides_through_a_redis_restart(tmp_path):
    """Redis goes away for ~1 s: the command issued meanwhile is retried with backoff and
    succeeds once the server is back, instead of failing the caller's turn."""
    port = free_port()
    command = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = connect(f"redis://127.0.0.1:{port}/0")
    try:
        await wait_for(lambda: _answers(client))
        server.terminate()
        server.wait(timeout=10)

        async def restart_later() -> subprocess.Popen:
            await asyncio.sleep(1.0)
            return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        restarting = asyncio.create_task(restart_later())
        started = time.monotonic()
        await client.set("after-restart", "1")  # without the factory's retries: ConnectionError
        assert time.monotonic() - started >= 0.9
        server = await restarting
        assert await client.get("after-restart") == b"1"
    finally:
        await client.close()
        server.terminate()
        server.wait(timeout=10)


async def _answers(client) -> bool:
    try:
        return await client.ping()
    except RedisError:  # not listening yet
        return False


async def test_sentinel_with_passwords_on_the_nodes_and_on_the_sentinels():
    """`:password@` is the primary's and replicas', `?sentinel_password=` the sentinels' own."""
    setup = SentinelSetup(replicas=1, sentinels=1, password="node-pass", sentinel_password="sentinel-pass")
    try:
        client = connect(setup.url)
        await client.set("greeting", "oi")
        assert await client.get("greeting") == b"oi"
        await client.close()
        assert connect_sync(setup.url).get("greeting") == b"oi"

        without_sentinel_password = connect(setup.url.split("?")[0], retries=1)
        with pytest.raises(RedisError):
            await without_sentinel_password.get("greeting")
        await without_sentinel_password.close()
        wrong_node_password = connect(setup.url.replace(":node-pass@", ":wrong@"), retries=1)
        with pytest.raises(RedisError):
            await wrong_node_password.get("greeting")
        await wrong_node_password.close()
    finally:
        setup.stop()


async def test_a_turn_whose_save_reply_was_lost_is_stored_once(redis_server, redis_url):
    """The client retries a save whose reply never came (the script had run): the append
    script recognises its own events and stores nothing twice."""
    proxy = await ReplyLosingProxy(redis_server.port, b"lost-reply-marker").start()
    store = CustomerTrackerStore(domain=DOMAIN, host=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        await play([store], "cus_lost", ["session", turn("first")])
        await play([store], "cus_lost", [turn("lost-reply-marker")])
        assert proxy.lost
        history = await CustomerTrackerStore(domain=DOMAIN, host=redis_url).read_history("cus_lost")
        assert [e["text"] for e in history if e["event"] == "user"] == ["first", "lost-reply-marker"]
        assert [e["event"] for e in history].count("bot") == 2
    finally:
        await store.close()
        await proxy.stop()
