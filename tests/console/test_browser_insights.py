"""The Insights page in headless Chromium (issue #17), on the demo operation: an agent opens
Insights from the navigation, changes the range and the channel, follows a number to the
conversations behind it and on to one customer's conversation, and downloads a CSV, which the
audit log records. Screenshots go to results/insights/.

The browser and its driver are test_browser.py's; the console is the real `python -m
threadline.console` process on this test's own SQLite CRM (filled by `bin/threadline
demo-operation --customers 200`) and Redis, opened at the address it was started on.
"""
from __future__ import annotations

import csv
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.console.test_browser import page, playwright_ready  # noqa: F401  (the browser harness)
from tests.support.processes import PROJECT, project_process
from tests.support.redis_server import free_port
from threadline.console.agents import AddAgent
from threadline.crm import Database
from threadline.crm.models import AuditEntry, Interaction
from threadline.insights.business_hours import BusinessHours

pytestmark = pytest.mark.slow
AGENT, PASSWORD = "lia", "lia-console-password"
SHOTS = PROJECT / "results" / "insights"


@pytest.fixture(scope="module")
def console_db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.sqlite3'}"
    done = subprocess.run([str(PROJECT / "bin" / "threadline"), "demo-operation", "--customers", "200"],
                          env={"PATH": "/usr/bin:/bin", "CRM_DATABASE_URL": url, "HOME": str(PROJECT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "demo operation: 200 customers" in done.stdout
    database = Database(url)
    AddAgent(database)(AGENT, PASSWORD)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def console_url(redis_server, console_db, tmp_path_factory):
    """Overrides test_browser.py's (which needs the whole assistant) for this module's `page`."""
    port = free_port()
    env = {"CONSOLE_PORT": str(port), "REDIS_URL": redis_server.url, "CRM_DATABASE_URL": console_db.url,
           "RASA_PORT": str(free_port()), "RASA_AUTH_TOKEN": "unused-no-rasa-in-this-test"}
    with project_process(["-m", "threadline.console"], f"http://127.0.0.1:{port}/health", env,
                         tmp_path_factory.mktemp("console") / "console.log"):
        yield f"http://127.0.0.1:{port}"


async def shot(page, name: str) -> None:
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    await page.screenshot(path=str(path))  # the viewport only
    with Image.open(path) as image:  # 256 colours: a fraction of the size, as readable
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)


async def test_an_agent_reads_insights_drills_down_to_a_conversation_and_exports_a_csv(
        page, console_url, console_db, tmp_path):  # noqa: F811
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(console_url + "/")
    await page.fill("input[name=name]", AGENT)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.click("#nav-insights")
    await page.wait_for_selector("#metric-first_useful_response")
    today = BusinessHours.parse().local(datetime.now(timezone.utc).replace(tzinfo=None)).date()
    assert await page.input_value("input[name=from]") == (today - timedelta(days=29)).isoformat()
    for plot in ("series", "funnel", "distribution", "reasons"):
        box = await (await page.query_selector(f"#plot-{plot} svg")).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 60, plot  # drawn, at a readable size
    everything = int(await page.inner_text("#metric-volume_by_channel .figure a"))
    assert everything > 0
    await shot(page, "insights.png")
    await page.locator(".plots").scroll_into_view_if_needed()
    await shot(page, "insights_plots.png")

    # The first half of that range, on WhatsApp only (the demo's stories begin earlier than they end).
    week, last = today - timedelta(days=29), today - timedelta(days=15)
    await page.fill("input[name=to]", last.isoformat())
    await page.select_option("select[name=channel]", "whatsapp")
    await page.click("form.range button[type=submit]")
    await page.wait_for_url("**channel=whatsapp**")
    before = (week - timedelta(days=15)).isoformat(), (week - timedelta(days=1)).isoformat()
    assert await page.inner_text("#compared") == f"Compared with {before[0]} – {before[1]}."
    on_whatsapp = int(await page.inner_text("#metric-volume_by_channel .figure a"))
    assert 0 < on_whatsapp < everything
    assert [c.strip() for c in await page.locator("table.funnel tbody td:first-child").all_inner_texts()] == ["WhatsApp"]
    await shot(page, "insights_whatsapp.png")

    # The number → the conversations behind it → one customer's conversation.
    await page.click("#metric-volume_by_channel .figure a")
    await page.wait_for_selector("table.rows")
    assert await page.locator("table.rows tbody tr").count() == on_whatsapp
    await shot(page, "insights_rows.png")
    first = page.locator("a.customer-link").first
    customer_id = (await first.get_attribute("href")).rsplit("/", 1)[1]
    await first.click()
    await page.wait_for_selector("#timeline li.entry")
    said = console_db.transaction(lambda s: s.scalars(select(Interaction.text).where(
        Interaction.customer_id == customer_id, Interaction.author == "customer")
        .order_by(Interaction.occurred_at.desc())).first())
    assert said in await page.inner_text("#timeline")
    assert await page.is_visible("#flags")
    await shot(page, "customer.png")

    # Back to Insights; download one metric's rows.
    await page.go_back()
    await page.go_back()
    async with page.expect_download() as waiting:
        await page.click("#metric-volume_by_channel form.export button")
    download = await waiting.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert download.suggested_filename == f"insights-volume_by_channel-{week}-{last}-whatsapp.csv"
    with saved.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == on_whatsapp and {r["channel"] for r in rows} == {"whatsapp"}
    [audited] = console_db.transaction(lambda s: [(e.actor, e.reason) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "export"))])
    assert audited[0] == AGENT and "volume_by_channel" in audited[1] and "whatsapp" in audited[1]

    # The same page in the agent's other language.
    await page.click("form.language button")
    await page.wait_for_selector("html[lang=pt-BR]")
    assert await page.inner_text("h1") == "Indicadores"
    assert "Tempo até a primeira resposta útil" in await page.inner_text("#metric-first_useful_response")
    assert await page.inner_text("#compared") == f"Comparado com {before[0]} – {before[1]}."
    await shot(page, "insights_pt_BR.png")
