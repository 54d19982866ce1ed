"""The console in Brazilian Portuguese, in headless Chromium (issue #16): an agent whose
browser speaks English switches the console to Portuguese, the choice is stored with them, and
the handed-over customer's summary reads in Portuguese while the customer's own words stay as
they wrote them. The page is saved to results/console/console_pt_BR.png.

The browser and its driver are test_browser.py's (`playwright_ready`, `page`); the console is
the real `python -m threadline.console` process, here on its own CRM database and without a
Rasa server (nothing in this test sends a reply).
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.console.test_browser import page, playwright_ready  # noqa: F401  (the browser harness)
from tests.handoff.journeys import ORDER_ID, at, bot_answers, customer_says, entity, session_start
from tests.support.processes import PROJECT, printed_console_url, project_process
from tests.support.redis_server import free_port
from threadline.console.agents import AddAgent
from threadline.crm import Database
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import Agent, Order
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook
from threadline.crm.timeline import interactions_from_events
from threadline.handoff.store import OpenHandoff, open_handoffs
from threadline.identity.services import IdentityServices
from threadline.handoff.summary import generate_summary

pytestmark = pytest.mark.slow
AGENT, PASSWORD = "rita", "rita-console-password"
WA_ID = "5521988887777"
SCREENSHOT = PROJECT / "results" / "console" / "console_pt_BR.png"
WHERE = f"oi, cadê meu pedido {ORDER_ID}?"
COMPLAINT = "ja faz 3 dias q ta atrasado, isso é um absurdo!! quero falar com alguem"


@pytest.fixture(scope="module")
def console_db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.sqlite3'}")
    SeedDemoShop(database, date.today())()
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def console_url(redis_server, console_db, tmp_path_factory):
    """Overrides test_browser.py's (which needs the whole assistant) for this module's `page`."""
    port = free_port()
    env = {"CONSOLE_PORT": str(port), "REDIS_URL": redis_server.url, "CRM_DATABASE_URL": console_db.url,
           "RASA_PORT": str(free_port()), "RASA_AUTH_TOKEN": "unused-no-rasa-in-this-test"}
    log = tmp_path_factory.mktemp("console") / "console.log"
    with project_process(["-m", "threadline.console"], f"http://127.0.0.1:{port}/health", env, log):
        yield printed_console_url(log)  # opened as printed, with no browser flag


async def escalate_in_portuguese(db: Database, redis_url: str) -> str:
    """Bruna asks on WhatsApp, in Portuguese, where her late order is, then complains: she is
    handed over with the summary the handoff action writes. Returns her customer id."""
    identities = IdentityServices(db, redis_url)
    try:
        customer_id = await identities.resolver.resolve("whatsapp", WA_ID, profile_name="Bruna Lima")
    finally:
        await identities.index.close()
    db.transaction(lambda s: setattr(s.get(Order, ORDER_ID), "customer_id", customer_id))
    yesterday, today = date.today() - timedelta(days=1), date.today()
    events = session_start(at(yesterday, 10))
    events.append(customer_says(at(yesterday, 10, 1), "whatsapp", WHERE, "order_status", 0.91,
                                [entity("order_id", ORDER_ID, WHERE)]))
    events += bot_answers(at(yesterday, 10, 1), "action_order_status",
                          f"Seu pedido {ORDER_ID} foi enviado pelos Correios e está atrasado.")
    events.append(customer_says(at(today, 9, 12), "whatsapp", COMPLAINT, "complaint", 0.87))
    services = CrmServices(SqlCrm(db), SqlOrderBook(db), db)
    records, _ = interactions_from_events(customer_id, events, None)  # as the timeline consumer writes them
    await services.crm.record_interactions(records)
    summary = await generate_summary(customer_id, crm=services, tracker_events=events, reason="complaint")
    await OpenHandoff(db)(customer_id, reason="complaint", channel="whatsapp", summary_text=summary.paragraph,
                          summary=summary.to_dict())
    return customer_id


async def test_an_agent_switches_the_console_to_portuguese_and_reads_the_summary_in_it(
        page, console_url, console_db, redis_server, monkeypatch):  # noqa: F811
    monkeypatch.delenv("SUMMARY_LLM_URL", raising=False)
    AddAgent(console_db)(AGENT, PASSWORD)
    await escalate_in_portuguese(console_db, redis_server.url)

    await page.goto(console_url + "/")
    assert await page.get_attribute("html", "lang") == "en"  # Chromium's default: English
    await page.fill("input[name=name]", AGENT)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Nobody is waiting.", state="detached")
    await page.wait_for_selector("tr[data-handoff]")

    await page.click("form.language button")
    await page.wait_for_selector("html[lang=pt-BR]")
    assert await page.inner_text("h1") == "Fila 1 aberta"
    stored = console_db.transaction(lambda s: s.scalar(select(Agent.language).where(Agent.name == AGENT)))
    assert stored == "pt"

    await page.click("tr[data-handoff] a")
    await page.wait_for_selector("text=Assumir esta conversa")
    [handoff] = await open_handoffs(console_db)
    portuguese = handoff.summary["languages"]["pt"]
    paragraph = (await page.inner_text("#summary-paragraph")).strip()
    assert paragraph == portuguese["paragraph"] and paragraph.startswith("Bruna escreve por WhatsApp desde")
    assert "Encaminhado porque o cliente reclamou." in paragraph
    for label in ("Últimas mensagens", "Próximo passo sugerido", "Pendências", "Humor", "Conversa, todos os canais"):
        assert await page.is_visible(f"dt:has-text('{label}'), h2:has-text('{label}')"), label
    last = await page.inner_text("section.summary dl")
    assert f"“{COMPLAINT}”" in last and f"“{WHERE}”" in last  # the customer, word for word
    assert "Peça desculpas e assuma o problema" in last
    assert "Take this conversation" not in await page.content()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
