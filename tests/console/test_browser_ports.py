"""In a real Chromium, started with no flags (no --explicitly-allowed-ports): the console's
default address as `make run` prints it is one the browser tries to open, and the old default,
5060, is one it refuses before connecting (ERR_UNSAFE_PORT), which is what a newcomer saw.

Nothing needs to listen: Chromium checks the port before it connects, so a port it allows gives
"connection refused" (or the page, if a console happens to run there) and a blocked one
ERR_UNSAFE_PORT.
"""
from __future__ import annotations

import pytest

from tests.console.test_browser import CHROMIUM, playwright_ready  # noqa: F401  (the browser harness)
from threadline.settings import DEFAULT_CONSOLE_PORT

pytestmark = pytest.mark.slow


async def browser_error(playwright_ready, url: str) -> str:  # noqa: F811
    """What Chromium says when asked to open `url`: "" when the page opened, else its net:: error."""
    async with playwright_ready() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await browser.new_page()
            try:
                await page.goto(url, timeout=15_000)
            except Exception as error:  # playwright's Error: "net::ERR_… at <url>"
                return str(error)
            return ""
        finally:
            await browser.close()


async def test_chromium_opens_the_console_default_address_and_refuses_the_old_one(playwright_ready):  # noqa: F811
    refused = await browser_error(playwright_ready, "http://127.0.0.1:5060/")
    assert "ERR_UNSAFE_PORT" in refused  # the check below can tell a blocked port
    printed = f"http://127.0.0.1:{DEFAULT_CONSOLE_PORT}/"
    opened = await browser_error(playwright_ready, printed)
    # Tried: refused by the empty port (or the page, when a console runs there), never blocked.
    assert opened == "" or "ERR_CONNECTION_REFUSED" in opened, opened
