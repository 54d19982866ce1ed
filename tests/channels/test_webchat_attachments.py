"""Attachments from the widget, on the scripted stack (the real channel, an inbox worker
answering, real Redis): a real PNG and PDF picked with the paperclip in headless Chromium
reach the bot as media (its answer shows in the widget) and are shown back (the image loads,
the PDF is a link); a ZIP named .png and a file over WEBCHAT_MAX_ATTACHMENT_BYTES are refused
with a clear error and one log line, nothing stored, and nothing of another conversation
reaches the refused visitor."""
from __future__ import annotations

import struct
import uuid
import zlib

import aiohttp
import pytest

from tests.channels.conftest import scripted_env
from tests.channels.helpers import handled
from tests.support.webchat import open_widget, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
MAX_BYTES = 200_000
VICTIM_TEXT = "my address is Rua das Flores 12"
MEDIA_ANSWER = "Thanks, I received it."


def png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG (a blue square), written out as the format says."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x1d\x4e\xd8" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def zip_file() -> bytes:
    return b"PK\x03\x04" + b"\x00" * 200


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return {**webchat_env(scripted_env(redis_server, tmp_path_factory)), "WEBCHAT_MAX_ATTACHMENT_BYTES": str(MAX_BYTES)}


def origin(bot) -> str:
    return bot.base.rsplit("/webhooks", 1)[0]


async def upload(bot, token: str, data: bytes, content_type: str, name: str = "photo.png"):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{bot.base}/webchat/attachment", data=data, headers={
                "Origin": origin(bot), "Authorization": f"Visitor {token}", "Content-Type": content_type,
                "X-Message-Id": uuid.uuid4().hex, "X-File-Name": name}) as answer:
            return answer.status, await answer.json()


async def test_a_png_and_a_pdf_from_the_widget_reach_the_bot_and_show(bot, store, browser):
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)
    await page.goto(f"{origin(bot)}/webhooks/webchat/demo")
    await page.click("#threadline-webchat >> .launcher")
    await page.wait_for_selector('#threadline-webchat[data-state="visitor"]', state="attached")
    assert await page.get_attribute("#threadline-webchat >> .attach", "aria-label") == "Attach an image or PDF"

    await page.set_input_files("#threadline-webchat >> .picker",
                               files=[{"name": "order-photo.png", "mimeType": "image/png", "buffer": png()}])
    image = await page.wait_for_selector("#threadline-webchat >> .customer img.file")
    await page.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=image)
    await wait_for(lambda: bot_answers(page, 1), timeout=20)
    turn = (await handled(store))[0]
    assert turn["text"] == "/share_media"
    assert turn["metadata"]["media"][0]["type"] == "image/png"
    async with aiohttp.ClientSession() as session:
        async with session.get(turn["metadata"]["media"][0]["url"]) as served:
            assert served.status == 200 and await served.read() == png()
            assert served.headers["Content-Type"] == "image/png"

    await page.set_input_files("#threadline-webchat >> .picker",
                               files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": pdf()}])
    link = await page.wait_for_selector("#threadline-webchat >> .customer a.file[href*='/files/']")
    assert await link.text_content() == "invoice.pdf (PDF)"
    await wait_for(lambda: bot_answers(page, 2), timeout=20)
    assert await page.locator('#threadline-webchat >> .customer[data-delivered="1"]').count() == 2

    # A reload shows both again, from the transcript.
    await page.reload()
    await page.click("#threadline-webchat >> .launcher")
    await page.wait_for_selector("#threadline-webchat >> .customer a.file")
    assert await page.locator("#threadline-webchat >> .customer img.file").count() == 1

    # A ZIP named .png, picked in the browser: a clear error, no bubble left, nothing stored.
    await page.set_input_files("#threadline-webchat >> .picker",
                               files=[{"name": "photo.png", "mimeType": "image/png", "buffer": zip_file()}])
    await page.wait_for_selector("#threadline-webchat >> .status:has-text('Send an image')")
    assert await page.locator("#threadline-webchat >> .customer").count() == 2


async def bot_answers(page, count: int) -> bool:
    shown = await page.eval_on_selector_all("#threadline-webchat >> .bot .text", "els => els.map(e => e.textContent)")
    return shown.count(MEDIA_ANSWER) >= count


@pytest.mark.parametrize("data, content_type, status, reason", [
    (zip_file(), "image/png", 415, "file content is not of its declared type"),
    (b"%PDF-" + b"x" * MAX_BYTES, "application/pdf", 413, "file too large"),
    (b"<svg onload=alert(1)>", "image/svg+xml", 415, "only PNG, JPEG, WebP, GIF images and PDF files are accepted"),
])
async def test_a_file_that_is_not_what_it_says_or_too_big_is_refused(bot, store, data, content_type, status, reason):
    victim = await open_widget(bot, visitor=None)
    await victim.say(VICTIM_TEXT)
    await wait_for(lambda: f"You said: {VICTIM_TEXT}" in victim.texts(), timeout=15)
    await victim.close()

    attacker = await open_widget(bot, visitor=None)
    token = (await attacker.welcome())["visitor"]
    files_before = len(await store.keys("tl:webchat:file:*"))
    log_before = bot.log().count("webchat: attachment refused")
    assert await upload(bot, token, data, content_type) == (status, {"error": reason})
    assert len(await store.keys("tl:webchat:file:*")) == files_before
    await wait_for(lambda: bot.log().count("webchat: attachment refused") == log_before + 1)
    # The attacker's conversation is still empty: nothing stored, nothing of the victim's.
    await attacker.say("after the refusal")
    await wait_for(lambda: "You said: after the refusal" in attacker.texts(), timeout=15)
    assert attacker.texts() == ["after the refusal", "You said: after the refusal"]
    await attacker.close()


async def test_uploads_need_an_allowed_origin_and_a_token_issued_here(bot):
    widget = await open_widget(bot, visitor=None)
    token = (await widget.welcome())["visitor"]
    await widget.close()
    async with aiohttp.ClientSession() as session:
        for headers, status in [({"Origin": "https://evil.example", "Authorization": f"Visitor {token}"}, 403),
                                ({"Origin": origin(bot), "Authorization": f"Visitor {token[:-4]}AAAA"}, 401),
                                ({"Origin": origin(bot)}, 401)]:
            async with session.post(f"{bot.base}/webchat/attachment", data=png(), headers={
                    **headers, "Content-Type": "image/png", "X-Message-Id": "m1"}) as answer:
                assert answer.status == status
        async with session.get(f"{bot.base}/webchat/files/{'A' * 43}") as guessed:
            assert guessed.status == 404
