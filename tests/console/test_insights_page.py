"""The Insights page, its drill-down, the customers pages and the audited CSV export, through
the console's HTTP interface (aiohttp test server, real Redis, a SQLite CRM filled by the demo
operation of issue #17)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.console.conftest import log_in, page_token
from threadline.crm.models import AuditEntry, Customer, Interaction, Order
from threadline.insights.business_hours import BusinessHours
from threadline.insights.demo import DemoOperation


@pytest.fixture
def demo(db):
    """200 demo customers, history ending today (so the default range, the last 30 days, has data)."""
    return DemoOperation(db, 200, 17, 60, None, BusinessHours.parse())()


@pytest.fixture
async def agent(console, demo):
    await log_in(console, "ana")
    return console


def _today() -> date:
    return BusinessHours.parse().local(__import__("datetime").datetime.utcnow()).date()


async def test_insights_needs_a_login(console):
    response = await console.get("/insights", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    forbidden = await console.post("/insights/export/no_follow_up", data={"from": "2026-11-01"})
    assert forbidden.status == 403


async def test_the_page_shows_each_metric_with_its_trend_and_svg_plots(agent):
    response = await agent.get("/insights")
    html = await response.text()
    assert response.status == 200
    today = _today()
    assert f'name="from" value="{(today - timedelta(days=29)).isoformat()}"' in html  # last 30 days
    assert f'name="to" value="{today.isoformat()}"' in html
    for name in ("first_useful_response", "no_follow_up", "stalled_leads", "abandonment_reasons", "bot_containment"):
        assert f'id="metric-{name}"' in html
    assert "Compared with" in html and re.search(r'class="trend (good|bad|same|neutral|none)"', html)
    for plot in ("series", "funnel", "distribution", "reasons"):
        figure = re.search(rf'<figure id="plot-{plot}">(.*?)</figure>', html, re.S).group(1)
        assert "<svg" in figure and "style=" not in figure and "<style" not in figure  # CSP: no inline CSS
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")  # nothing from elsewhere


async def test_the_page_speaks_portuguese(agent):
    html = await (await agent.get("/insights", headers={"Accept-Language": "pt-BR"})).text()
    assert "Tempo até a primeira resposta útil" in html and "Comparado com" in html


async def test_the_recovered_card_tells_what_the_ranges_follow_ups_did_in_both_languages(db, console, demo):
    from threadline.crm.models.base import utcnow
    from threadline.crm.models.followups import FollowUp

    customer = db.transaction(lambda s: s.scalars(select(Customer.id).order_by(Customer.id).limit(1)).first())
    now = utcnow() - timedelta(hours=1)  # today, in the default range
    rows = [FollowUp(key=f"test:{n}", kind="intent_without_order", action="message", customer_id=customer,
                     subject=f"interaction:{n}", status=status, reason=reason, channel="whatsapp", due_at=now,
                     planned_at=now, done_at=now, outcome=outcome)
            for n, (status, reason, outcome) in enumerate([("sent", None, "replied"), ("skipped", "opted_out", None)])]
    db.transaction(lambda s: s.add_all(rows))
    await log_in(console, "ana")

    card = lambda html: re.search(r'id="metric-recovered_opportunities">(.*?)</div>', html, re.S).group(1)  # noqa: E731
    english = card(await (await console.get("/insights")).text())
    assert re.search(r"\d+ recovered, \d+ of them after a follow-up", english)
    assert "Follow-ups: 1 sent, 1 skipped (opted out 1); 1 replied, 0 advanced, 0 won, 0 opted out" in english
    portuguese = card(await (await console.get("/insights", headers={"Accept-Language": "pt-BR"})).text())
    assert re.search(r"\d+ recuperadas, \d+ delas após um acompanhamento", portuguese)
    assert "Acompanhamentos: 1 enviados, 1 não enviados (pediu para parar 1); 1 com resposta" in portuguese


@pytest.mark.parametrize("metric, english, portuguese", [
    ("first_useful_response", ["Care cycle", "Started", "Business-hours time", "Answered by"],
     ["Ciclo de atendimento", "Início", "Tempo em horário comercial", "Respondido por"]),
    ("handoffs_with_complete_context", ["Handoff", "Missing from the summary", "Agent replied"],
     ["Transferência", "Faltou no resumo", "Agente respondeu"]),
])
async def test_the_rows_page_heads_its_columns_in_the_agents_language(agent, metric, english, portuguese):
    today = _today()
    query = f"from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}"
    heads = {}
    for language in ("en", "pt-BR"):
        html = await (await agent.get(f"/insights/rows/{metric}?{query}", headers={"Accept-Language": language})).text()
        heads[language] = re.findall(r"<th>(.*?)</th>", re.search(r"<thead>(.*?)</thead>", html, re.S).group(1))
    assert set(english) <= set(heads["en"]) and set(portuguese) <= set(heads["pt-BR"])
    assert not any("_" in head for head in heads["en"] + heads["pt-BR"])  # no raw keys


@pytest.mark.parametrize("query, message", [
    ("from=&to=2026-11-30", "Choose both the first and the last day"),
    ("from=2026-11-30&to=2026-11-01", "ends (2026-11-01) before it starts (2026-11-30)"),
    ("from=2016-01-01&to=2026-01-01", "at most 366 at a time"),
    ("from=2026-11-01&to=2026-11-30&channel=fax", "Unknown channel: fax."),
    ("from=yesterday&to=2026-11-30", "YYYY-MM-DD"),
    ("from=2001-01-01&to=2001-01-31", "No conversations, handoffs or leads in this range"),
])
async def test_bad_input_gives_a_message_not_an_error(agent, query, message):
    response = await agent.get(f"/insights?{query}")
    assert response.status == 200
    assert message in (await response.text())
    rows = await agent.get(f"/insights/rows/no_follow_up?{query}")
    assert rows.status == 200


async def test_a_number_links_to_its_rows_and_those_to_any_customer(agent, db):
    html = await (await agent.get("/insights")).text()
    link = re.search(r'href="(/insights/rows/no_follow_up\?[^"]+)"', html).group(1).replace("&amp;", "&")
    rows = await (await agent.get(link)).text()
    customers = re.findall(r'href="/customers/(cus_demo_\d+)" class="customer-link"', rows)
    assert customers
    page = await agent.get(f"/customers/{customers[0]}")
    text = await page.text()
    assert page.status == 200
    assert "Conversations with no follow-up" in re.search(r'<ul class="flags" id="flags">(.*?)</ul>', text, re.S).group(1)
    said = db.transaction(lambda s: s.scalars(select(Interaction.text).where(
        Interaction.customer_id == customers[0], Interaction.author == "customer")).first())
    assert said and said in text  # the timeline, as on the handoff page
    assert said not in rows  # never a message body in the drill-down


async def test_customers_are_found_by_name_phone_email_and_order(agent, db):
    customer, order = db.transaction(lambda s: (s.scalars(select(Customer).where(Customer.display_name.is_not(None))).first(),
                                                s.scalars(select(Order).where(Order.customer_id.is_not(None))).first()))
    name, cid = customer.display_name, customer.id
    from threadline.identity.lookup import describe
    identities = db.transaction(lambda s: describe(s, cid)["identities"])
    for query in [name.split()[0], *[i["address"] for i in identities]]:
        html = await (await agent.get("/customers", params={"q": query})).text()
        assert f'href="/customers/{cid}"' in html, query
    html = await (await agent.get("/customers", params={"q": order.id.lower()})).text()
    assert f'href="/customers/{order.customer_id}"' in html
    html = await (await agent.get("/customers", params={"q": "nobody-like-this"})).text()
    assert "No customer matches" in html
    assert (await agent.get("/customers/cus_nobody")).status == 404


async def test_the_csv_export_has_every_row_and_is_audited(agent, db):
    token = await page_token(agent, "/insights")
    today = _today()
    form = {"csrf_token": token, "from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat(), "channel": ""}
    response = await agent.post("/insights/export/first_useful_response", data=form)
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(await response.text())))
    html = await (await agent.get("/insights")).text()
    total = int(re.search(r'id="metric-first_useful_response".*?<small>\((\d+)/(\d+)\)', html, re.S).group(2))
    assert len(table) == total and {"customer_id", "cycle_id", "started_at", "seconds"} <= set(table[0])
    bodies = db.transaction(lambda s: set(s.scalars(select(Interaction.text).where(Interaction.text.is_not(None)))))
    assert not bodies & {cell for row in table for cell in row.values()}  # never a message body
    [entry] = db.transaction(lambda s: [(e.action, e.actor, e.reason) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "export"))])
    assert entry[0] == "export" and entry[1] == "ana" and "first_useful_response" in entry[2]
    no_token = await agent.post("/insights/export/first_useful_response", data={**form, "csrf_token": "x"})
    assert no_token.status == 403


async def test_the_reports_and_plots_are_computed_off_the_event_loop(agent, monkeypatch):
    """An agent on the queue is not kept waiting while a colleague opens Insights: the figures
    of the two periods (read from the aggregates: the full computation, which scans the range's
    messages, is not run for the page) and the plots run in worker threads, never on the
    thread that runs the console's event loop. Checked by the thread each one runs on, not by
    timing, which a loaded machine makes noisy."""
    import threading

    from threadline.console import insights as page

    loop_thread = threading.get_ident()
    ran_on = []

    def recorded(function):
        def wrapper(*args, **kwargs):
            ran_on.append((function.__name__, threading.get_ident()))
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(page, "insights_report", recorded(page.insights_report))
    monkeypatch.setattr(page, "page_figures", recorded(page.page_figures))
    monkeypatch.setattr(page, "_plots", recorded(page._plots))
    # A range no other test asked for: the page's 60 s cache must not answer it.
    response = await agent.get("/insights?from=2026-05-03&to=2026-12-29")
    assert response.status == 200 and "<svg" in await response.text()
    assert sorted(name for name, _ in ran_on) == ["_plots", "page_figures", "page_figures"]
    assert all(thread != loop_thread for _, thread in ran_on), ran_on


def test_an_exported_cell_never_runs_as_a_spreadsheet_formula():
    """A customer id or label can hold anything a customer typed; a cell that starts like a
    formula is quoted, while numbers (durations, negative deltas) stay numbers."""
    from threadline.console.insights import csv_text

    cells = ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-1+cmd|' /C calc'!A0", "@SUM(A1)",
             "-2", "3.5", "-0.25", "+7", "- 1", "-inf", "\tx"]
    table = list(csv.reader(io.StringIO(csv_text([{"customer_id": c} for c in cells]))))[1:]
    written = [row[0] for row in table]
    assert written == ["'=HYPERLINK(\"http://x\")", "'+1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0",
                       "'@SUM(A1)", "-2", "3.5", "-0.25", "+7", "'- 1", "'-inf", "'\tx"]
