"""Agent operations on their own: racing claims, notes, refused replies."""
from __future__ import annotations

import asyncio

from threadline.console.agents import AddAgent
from threadline.crm import Database
from threadline.handoff.agent_operations import ClaimHandoff, NotYourHandoff
from threadline.handoff.store import get_handoff, handoff_events
from tests.console.conftest import escalate, log_in, page_token
from tests.identity.conftest import crm_url, postgres_database  # noqa: F401  (shared fixtures)


async def test_two_agents_claiming_at_once_exactly_one_wins(crm_url, redis_url):  # noqa: F811
    db = Database(crm_url)
    ana, bruno = AddAgent(db)("ana", "ana-secret-password"), AddAgent(db)("bruno", "bruno-secret-password")
    escalation = await escalate(db, redis_url, "whatsapp", "5511987650000")
    claim = ClaimHandoff(db)
    results = await asyncio.gather(*(claim(escalation.handoff_id, agent.id) for agent in (ana, bruno, ana, bruno)),
                                   return_exceptions=True)
    winner = (await get_handoff(db, escalation.handoff_id)).assigned_agent_id
    assert winner in (ana.id, bruno.id)
    loser = bruno.id if winner == ana.id else ana.id
    for agent, result in zip((ana, bruno, ana, bruno), results):
        if agent.id == winner:
            assert result.assigned_agent_id == winner
        else:
            assert isinstance(result, NotYourHandoff)
    assert [e.actor for e in await handoff_events(db, escalation.handoff_id) if e.kind == "assigned"] == [winner]
    assert loser not in {e.actor for e in await handoff_events(db, escalation.handoff_id)}
    db.dispose()


async def post(console, handoff_id: str, action: str, **form):
    token = await page_token(console, f"/handoffs/{handoff_id}")
    return await console.post(f"/handoffs/{handoff_id}/{action}", data={"csrf_token": token, **form},
                              allow_redirects=False)


async def test_a_note_is_kept_for_colleagues_and_never_sent(console, db, escalation, agents):
    await log_in(console, "ana")
    assert (await post(console, escalation.handoff_id, "claim")).status == 303
    # The console's Rasa API points at a closed port: anything sent would fail with 502.
    assert (await post(console, escalation.handoff_id, "note", text="Customer prefers a call after 6pm")).status == 303
    page = await (await console.get(f"/handoffs/{escalation.handoff_id}")).text()
    assert "Customer prefers a call after 6pm" in page and "Internal notes" in page
    [note] = [e for e in await handoff_events(db, escalation.handoff_id) if e.kind == "noted"]
    assert (note.actor, note.detail) == (agents["ana"].id, "Customer prefers a call after 6pm")


async def test_replies_need_a_claim_and_a_channel_the_customer_has(console, db, escalation):
    await log_in(console, "ana")
    waiting = await post(console, escalation.handoff_id, "reply", text="hello", channel="whatsapp")
    assert waiting.status == 409 and "take it first" in await waiting.text()
    await post(console, escalation.handoff_id, "claim")
    unknown = await post(console, escalation.handoff_id, "reply", text="hello", channel="instagram")
    assert unknown.status == 400 and "cannot be reached on instagram" in await unknown.text()
    empty = await post(console, escalation.handoff_id, "reply", text="   ", channel="whatsapp")
    assert empty.status == 400
    # The only reachable channel goes to Rasa, which is down here: the agent is told.
    down = await post(console, escalation.handoff_id, "reply", text="hello", channel="whatsapp")
    assert down.status == 502 and "try again" in await down.text()
    assert not [e for e in await handoff_events(db, escalation.handoff_id) if e.kind == "replied"]
