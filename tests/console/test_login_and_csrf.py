"""The console is closed to anyone not logged in, refuses wrong passwords and forged posts."""
from __future__ import annotations

from threadline.console.agents import SetAgentActive
from threadline.console.throttle import MAX_FAILURES
from threadline.handoff.store import get_handoff, handoff_events
from tests.console.conftest import log_in, page_token


async def test_every_page_without_login_redirects_to_the_login(console, escalation):
    for path in ("/", f"/handoffs/{escalation.handoff_id}"):
        response = await console.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith("/login?next=")
    followed = await console.get(f"/handoffs/{escalation.handoff_id}")
    assert followed.url.path == "/login" and 'name="password"' in await followed.text()
    assert (await console.get("/events/queue")).status == 403
    refused = await console.post(f"/handoffs/{escalation.handoff_id}/claim", data={}, allow_redirects=False)
    assert refused.status == 403


async def test_wrong_password_or_disabled_agent_is_refused(console, db, escalation):
    wrong = await log_in(console, "ana", "not-her-password")
    assert wrong.status == 401 and "Wrong name or password" in await wrong.text()
    assert (await log_in(console, "nobody", "whatever-password")).status == 401
    assert (await console.get("/", allow_redirects=False)).status == 303
    SetAgentActive(db)("bruno", False)
    assert (await log_in(console, "bruno")).status == 401


async def test_password_guessing_is_stopped_after_ten_wrong_passwords(console):
    for _ in range(MAX_FAILURES):
        assert (await log_in(console, "ana", "a-wrong-guess")).status == 401
    blocked = await log_in(console, "ana")  # even the right password, for now
    assert blocked.status == 429 and "Too many wrong passwords" in await blocked.text()
    assert (await log_in(console, "bruno")).status == 303  # other agents are not affected


async def test_login_lands_on_the_queue_and_logout_ends_the_session(console, escalation):
    response = await log_in(console, "ana")
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.cookies["tl_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    queue = await (await console.get("/")).text()
    assert f'<a href="/handoffs/{escalation.handoff_id}">Ana Souza</a>' in queue
    token = await page_token(console, "/")
    assert (await console.post("/logout", data={"csrf_token": token}, allow_redirects=False)).status == 303
    # The old cookie is dead on the server, even if a copy of it is replayed.
    console.session.cookie_jar.update_cookies({"tl_console": cookie.value})
    assert (await console.get("/", allow_redirects=False)).status == 303


async def test_a_forged_post_without_the_csrf_token_changes_nothing(console, db, escalation):
    await log_in(console, "ana")
    path = f"/handoffs/{escalation.handoff_id}/claim"
    assert (await console.post(path, data={}, allow_redirects=False)).status == 403
    assert (await console.post(path, data={"csrf_token": "guessed"}, allow_redirects=False)).status == 403
    assert (await get_handoff(db, escalation.handoff_id)).status == "waiting"
    token = await page_token(console, f"/handoffs/{escalation.handoff_id}")
    assert (await console.post(path, data={"csrf_token": token}, allow_redirects=False)).status == 303
    assert (await get_handoff(db, escalation.handoff_id)).status == "assigned"


async def test_a_login_post_without_the_login_token_is_refused(console):
    response = await console.post("/login", data={"name": "ana", "password": "ana-secret-password"},
                                  allow_redirects=False)
    assert response.status == 403
    assert "tl_console" not in response.cookies


async def test_one_agent_cannot_act_on_a_handoff_another_agent_took(console, db, agents, escalation):
    await log_in(console, "ana")
    token = await page_token(console, f"/handoffs/{escalation.handoff_id}")
    await console.post(f"/handoffs/{escalation.handoff_id}/claim", data={"csrf_token": token})
    console.session.cookie_jar.clear()
    await log_in(console, "bruno")
    page = await console.get(f"/handoffs/{escalation.handoff_id}")
    assert "ana is handling this conversation" in await page.text()
    token = await page_token(console, "/")
    for action, form in (("claim", {}), ("reply", {"text": "hi, Bruno here", "channel": "whatsapp"}),
                         ("note", {"text": "I'll take it"}), ("hand-back", {}), ("close", {})):
        response = await console.post(f"/handoffs/{escalation.handoff_id}/{action}",
                                      data={"csrf_token": token, **form}, allow_redirects=False)
        assert response.status == 403, action
    handoff = await get_handoff(db, escalation.handoff_id)
    assert (handoff.status, handoff.assigned_agent_id) == ("assigned", agents["ana"].id)
    assert {e.actor for e in await handoff_events(db, escalation.handoff_id)} == {"bot", agents["ana"].id}
