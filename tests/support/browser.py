"""Headless Chromium for page tests (Playwright): import the fixtures into a conftest or a
test module, `from tests.support.browser import browser, playwright_ready  # noqa: F401`."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def playwright_ready():
    """Playwright, once the project's Chromium is installed (scripts/install-browser.sh)."""
    done = subprocess.run(["bash", str(PROJECT / "scripts" / "install-browser.sh")], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not install the browser: {done.stderr.strip() or done.stdout.strip()}")
    from playwright.async_api import async_playwright

    return async_playwright


@pytest.fixture
async def browser(playwright_ready):
    """A headless Chromium for the test."""
    async with playwright_ready() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()
