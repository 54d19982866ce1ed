"""Web chat bad input, each refused with its close code (or HTTP status) and one log line,
while a victim's conversation exists on the same server: not one of its entries (nor any
entry at all) reaches the refused connection."""
from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from tests.channels.conftest import scripted_env
from tests.channels.helpers import handled
from tests.support.webchat import SECRET, open_widget, site_token, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
VICTIM_TEXT = "my card ends in 4242"


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return webchat_env(scripted_env(redis_server, tmp_path_factory))


@pytest.fixture
async def victim(bot, store):
    """A signed-in customer with a conversation; their resume token is what an attacker wants."""
    widget = await open_widget(bot, login=site_token("victim-1"))
    welcome = await widget.welcome()
    await widget.say(VICTIM_TEXT)
    await wait_for(lambda: f"You said: {VICTIM_TEXT}" in widget.texts(), timeout=15)
    await widget.close()
    return welcome


def forged_resume(resume: str) -> str:
    body, _, mac = resume.rpartition(".")
    return f"{body}.{'A' * len(mac)}"


def oversized() -> str:
    return json.dumps({"type": "message", "id": "big", "text": "x" * 9000})


async def refused(bot, hello=None, frames=(), origin="default"):
    """Connect, send `hello` (or none) then `frames`; the close code and every entry received."""
    widget = await open_widget(bot, origin=origin, send_hello=hello is not None, **(hello or {}))
    for frame in frames:
        await widget.send(frame)
    code = await widget.closed_with()
    entries = widget.entries()
    await widget.close()
    return code, entries


BAD_HELLOS = {
    "forged site token": (lambda v: {"login": site_token("victim-1", secret="the-other-sites-secret")}, 4401),
    "expired site token": (lambda v: {"login": site_token("victim-1", lifetime_s=-120)}, 4401),
    "site token living over an hour": (lambda v: {"login": site_token("victim-1", lifetime_s=7200)}, 4401),
    "site token without jti": (lambda v: {"login": __import__("jwt").encode(
        {"sub": "victim-1", "exp": 9999999999}, SECRET, algorithm="HS256")}, 4401),
    "alg none token": (lambda v: {"login": __import__("jwt").encode(
        {"sub": "victim-1", "exp": 9999999999, "jti": "x"}, None, algorithm="none")}, 4401),
    "forged resume token": (lambda v: {"resume": forged_resume(v["resume"])}, 4401),
    "forged visitor token": (lambda v: {"visitor": "guessed.token"}, 4401),
    "after that is not a number": (lambda v: {"after": "0"}, 4400),
}


@pytest.mark.parametrize("case", sorted(BAD_HELLOS))
async def test_bad_hello_is_refused_and_shows_nothing(bot, victim, case):
    hello, code = BAD_HELLOS[case]
    assert await refused(bot, hello(victim)) == (code, [])


async def test_replayed_site_token_is_refused(bot, victim):
    token = site_token("victim-1")
    first = await open_widget(bot, login=token)
    assert (await first.welcome())["verified"]
    await first.close()
    assert await refused(bot, {"login": token}) == (4401, [])
    assert "site token already used" in bot.edge.log()


@pytest.mark.parametrize("origin", ["https://evil.example", None, "null", "http://127.0.0.1.evil.example"])
async def test_wrong_or_missing_origin_is_refused_before_the_socket_opens(bot, victim, origin):
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
            await session.ws_connect(f"{bot.base.replace('http', 'ws', 1)}/webchat/socket", headers=headers)
    assert refusal.value.status == 403
    assert "socket refused with 403: origin not allowed" in bot.edge.log()


@pytest.mark.parametrize("frame, code", [
    ("not json at all", 4400), ('["a list"]', 4400), ('{"type": "message", "id": "1", "text": "hi"}', 4400), ('{"type": "hello", "after": -1}', 4400),
    (b"\x00binary", 4400), (oversized(), 1009),
    ('{"type": "message", "text": "no id"}', 4400), ('{"type": "message", "id": "1"}', 4400),
])
async def test_malformed_or_oversized_first_frame_closes_the_socket(bot, victim, frame, code):
    widget = await open_widget(bot, send_hello=False)
    if isinstance(frame, bytes):
        await widget.ws.send_bytes(frame)
    else:
        await widget.send(frame)
    assert await widget.closed_with() == code
    assert widget.entries() == []
    await widget.close()


async def test_bad_frame_after_hello_closes_with_only_the_own_conversation_shown(bot, victim):
    widget = await open_widget(bot, visitor=None)
    await widget.welcome()
    await widget.send(oversized())
    assert await widget.closed_with() == 1009
    assert VICTIM_TEXT not in json.dumps(widget.frames)
    await widget.close()


async def test_flood_from_one_visitor_is_cut_at_the_limit(bot, store, victim):
    before = len(await handled(store, 0))
    widget = await open_widget(bot, visitor=None)
    await widget.welcome()
    for n in range(25):  # the limit is 15 a minute (tests/support/webchat.py)
        await widget.send({"type": "message", "id": uuid.uuid4().hex, "text": f"spam {n}"})
    assert await widget.closed_with() == 4429
    acks = [f for f in widget.frames if f["type"] == "ack"]
    assert len(acks) == 15
    assert VICTIM_TEXT not in json.dumps(widget.frames)
    await widget.close()
    # Exactly the admitted ones became turns: once the 15th is answered, the count is final.
    turns = await handled(store, before + 15, timeout=30)
    assert len([t for t in turns if (t["text"] or "").startswith("spam")]) == 15
    assert "too many messages" in bot.edge.log()


async def test_widget_script_only_for_allowed_pages(bot, channel_env):
    allowed = channel_env["WEBCHAT_ALLOWED_ORIGINS"]
    async with aiohttp.ClientSession() as session:
        async def status(headers):
            async with session.get(f"{bot.base}/webchat/widget.js", headers=headers) as answer:
                return answer.status, (await answer.text())[:40]
        assert (await status({"Referer": f"{allowed}/shop/cart"}))[0] == 200
        assert (await status({"Origin": allowed}))[0] == 200
        assert (await status({"Referer": "https://evil.example/page"}))[0] == 403
        assert (await status({}))[0] == 403


@pytest.mark.parametrize("frame", ['{"type": "read", "seq": "2"}', '{"type": "read", "seq": 0}', '{"type": "read"}'])
async def test_a_malformed_read_receipt_closes_the_socket(bot, victim, frame):
    widget = await open_widget(bot, visitor=None)
    await widget.welcome()
    await widget.send(frame)
    assert await widget.closed_with() == 4400
    assert VICTIM_TEXT not in json.dumps(widget.frames)
    await widget.close()
