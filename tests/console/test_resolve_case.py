"""An agent resolves a customer's case from the customer's page (ResolveCase), through the
console's HTTP interface (aiohttp test server, real Redis, SQLite CRM). The CSAT question that
follows reaches the customer through the real stack: tests/console/test_csat_with_rasa.py."""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.console.conftest import csrf_in, escalate, log_in
from threadline.crm.models import AuditEntry, Case
from threadline.crm.models.csat import CsatRequest


async def open_case(db, customer_id: str, topic: str = "late_order") -> int:
    def add(session) -> int:
        case = Case(customer_id=customer_id, topic=topic, order_id="TL-48213", channel="whatsapp")
        session.add(case)
        session.flush()
        return case.id
    return await db.run(add)


async def test_an_agent_resolves_a_case_once_and_the_customer_is_asked_for_a_rating(console, db, escalation):
    case_id = await open_case(db, escalation.customer_id)
    await log_in(console, "ana")
    page = await (await console.get(f"/customers/{escalation.customer_id}")).text()
    assert f'action="/customers/{escalation.customer_id}/cases/{case_id}/resolve"' in page
    resolve = f"/customers/{escalation.customer_id}/cases/{case_id}/resolve"
    assert (await console.post(resolve, data={}, allow_redirects=False)).status == 403  # no CSRF token
    response = await console.post(resolve, data={"csrf_token": csrf_in(page)}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/customers/{escalation.customer_id}?resolved={case_id}"
    after = await (await console.get(response.headers["Location"])).text()
    assert f"Case #{case_id} resolved." in after and f'id="case-{case_id}"' not in after  # no longer open

    status, resolved_at, audit, asked = await db.run(lambda s: (
        s.get(Case, case_id).status, s.get(Case, case_id).resolved_at,
        [(e.action, e.customer_id) for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "resolve_case"))],
        [(r.trigger, r.source_id, r.channel) for r in s.scalars(select(CsatRequest))]))
    assert status == "resolved" and resolved_at is not None
    assert audit == [("resolve_case", escalation.customer_id)]
    assert asked == [("case", str(case_id), "whatsapp")]

    again = await console.post(resolve, data={"csrf_token": csrf_in(after)}, allow_redirects=False)
    assert again.status == 409  # a second tab: nothing changes, no second question
    assert await db.run(lambda s: s.query(CsatRequest).count()) == 1


async def test_a_case_of_another_customer_or_none_is_not_found(console, db, escalation, redis_url):
    other = await escalate(db, redis_url, "whatsapp", "5511900000009", name="Bia")
    case_id = await open_case(db, other.customer_id)
    await log_in(console, "ana")
    page = await (await console.get(f"/customers/{escalation.customer_id}")).text()
    token = csrf_in(page)
    for path in (f"/customers/{escalation.customer_id}/cases/{case_id}/resolve",
                 f"/customers/{escalation.customer_id}/cases/99999/resolve",
                 f"/customers/{escalation.customer_id}/cases/x/resolve"):
        response = await console.post(path, data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 404 and "no such case" in await response.text(), path
    assert await db.run(lambda s: s.get(Case, case_id).status) == "open"


async def test_the_button_speaks_portuguese(console, db, escalation):
    await open_case(db, escalation.customer_id)
    await log_in(console, "ana")
    page = await (await console.get(f"/customers/{escalation.customer_id}", headers={"Accept-Language": "pt-BR"})).text()
    assert re.search(r"<button type=\"submit\">Resolver caso</button>", page)
