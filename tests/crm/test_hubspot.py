"""The HubSpot backend against a local HubSpot API (tests/support/hubspot_sandbox.py) on loopback."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestServer

from tests.support.hubspot_sandbox import TOKEN, HubSpotSandbox
from threadline.crm.hubspot import HubSpotApi, HubSpotCrm, HubSpotRejected
from threadline.crm.interface import CrmUnavailable, InteractionRecord


@pytest.fixture
async def sandbox():
    sandbox = HubSpotSandbox()
    server = TestServer(sandbox.app, host="127.0.0.1")
    await server.start_server()
    sandbox.url = str(server.make_url("")).rstrip("/")
    yield sandbox
    await server.close()


@pytest.fixture
async def hubspot(sandbox):
    crm = HubSpotCrm(HubSpotApi(TOKEN, sandbox.url, backoff_s=0.01))
    yield crm
    await crm.close()


def message(key: str, text: str, channel: str = "instagram", author: str = "customer") -> InteractionRecord:
    return InteractionRecord("cus_ana", author, channel, text, datetime(2026, 11, 20, 10, 0, 5), key,
                             intent="product_price" if author == "customer" else None, confidence=0.93)


def calls(sandbox, method: str, path: str) -> int:
    return sum(1 for m, p, _ in sandbox.requests if (m, p) == (method, path))


async def test_interactions_become_notes_on_one_contact_and_are_written_once(sandbox, hubspot):
    assert await hubspot.record_interactions([message("k1", "how much?"), message("k2", "BRL 499", author="bot")]) == 2
    assert await hubspot.record_interactions([message("k2", "BRL 499", author="bot")]) == 0
    # A new process (no cache) finds the contact instead of creating another one.
    other = HubSpotCrm(HubSpotApi(TOKEN, sandbox.url))
    assert await other.record_interactions([message("k3", "thanks", channel="sms")]) == 1
    await other.close()
    assert len(sandbox.objects["contacts"]) == 1 and len(sandbox.objects["notes"]) == 3
    [contact] = sandbox.objects["contacts"].values()
    assert contact["properties"]["threadline_customer_id"] == "cus_ana"
    create = next(b for m, p, b in sandbox.requests if (m, p) == ("POST", "/crm/v3/objects/notes"))
    assert create == {"properties": {"hs_timestamp": "2026-11-20T10:00:05.000Z",
                                     "hs_note_body": "[instagram] customer: how much? (intent product_price, 0.93)",
                                     "threadline_key": "k1"},
                      "associations": [{"to": {"id": contact["id"]}, "types": [
                          {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]}
    timeline = await hubspot.timeline("cus_ana")
    assert [(r.channel, r.author, r.text) for r in timeline][:2] == [
        ("instagram", "customer", "how much? (intent product_price, 0.93)"), ("instagram", "bot", "BRL 499")]


async def test_opportunity_is_one_deal_moving_forward_only(sandbox, hubspot):
    new = await hubspot.touch_opportunity("cus_ana", product="Atlas Office Chair", channel="instagram")
    qualified = await hubspot.touch_opportunity("cus_ana", product="atlas office chair", stage="qualified",
                                                quantity=3, value=Decimal("3747.00"))
    back = await hubspot.touch_opportunity("cus_ana", product="Atlas Office Chair", stage="new")
    assert new.id == qualified.id == back.id and len(sandbox.objects["deals"]) == 1
    assert (back.stage, back.quantity, back.value, back.channel) == ("qualified", 3, Decimal("3747.00"), "instagram")
    [deal] = sandbox.objects["deals"].values()
    assert (deal["properties"]["dealstage"], deal["properties"]["pipeline"]) == ("qualifiedtobuy", "default")


async def test_case_is_one_ticket_with_a_task_for_the_promise_and_both_show_in_the_profile(sandbox, hubspot):
    case, created = await hubspot.open_case("cus_ana", "late_order", "TL-48213", "sms")
    again, created_again = await hubspot.open_case("cus_ana", "late_order", "TL-48213", "whatsapp")
    assert created and not created_again and again.id == case.id and len(sandbox.objects["tickets"]) == 1
    await hubspot.make_promise("cus_ana", "Update on late order TL-48213", date(2026, 11, 24), case.id)
    await hubspot.make_promise("cus_ana", "Update on late order TL-48213", date(2026, 11, 24), case.id)  # retried
    assert len(sandbox.objects["tasks"]) == 1
    await hubspot.touch_opportunity("cus_ana", product="Drift Running Shoes", channel="instagram")
    profile = await hubspot.profile("cus_ana")
    assert [(c.topic, c.order_id, c.status) for c in profile.cases] == [("late_order", "TL-48213", "open")]
    assert [(p.text, p.due_date, p.case_id) for p in profile.promises] == [
        ("Update on late order TL-48213", date(2026, 11, 24), case.id)]
    assert [(o.product, o.stage, o.channel) for o in profile.opportunities] == [("Drift Running Shoes", "new", "instagram")]


async def test_the_customer_language_is_a_contact_property_the_profile_reads(sandbox, hubspot):
    assert (await hubspot.profile("cus_ana")).language is None
    await hubspot.set_customer_language("cus_ana", "pt")
    [contact] = sandbox.objects["contacts"].values()
    assert contact["properties"]["threadline_language"] == "pt"
    assert (await hubspot.profile("cus_ana")).language == "pt"


async def test_rate_limits_and_server_errors_are_retried(sandbox, hubspot):
    sandbox.rate_limit_once()
    sandbox.fail_once(502)
    sandbox.fail_once(503)
    case, created = await hubspot.open_case("cus_ana", "refund_request", "TL-50927", "email")
    assert created and len(sandbox.objects["tickets"]) == 1
    # The first call (the ticket search) was refused three times, then answered.
    assert calls(sandbox, "POST", "/crm/v3/objects/tickets/search") == 3 + 1


async def test_hubspot_down_is_crm_unavailable_and_a_bad_token_is_not_retried(sandbox, hubspot):
    for _ in range(4):
        sandbox.fail_once(503)
    with pytest.raises(CrmUnavailable):
        await hubspot.profile("cus_ana")
    wrong = HubSpotCrm(HubSpotApi("pat-wrong", sandbox.url, backoff_s=0.01))
    before = len(sandbox.requests)
    with pytest.raises(HubSpotRejected) as refused:
        await wrong.profile("cus_ana")
    assert refused.value.status == 401 and len(sandbox.requests) == before + 1
    await wrong.close()


async def test_timeline_consumer_writes_to_hubspot(sandbox, hubspot, redis_url):
    import redis.asyncio as aioredis
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from threadline.conversation.tracker_store import CustomerTrackerStore
    from tests.support.conversations import DOMAIN
    from threadline.crm.timeline_worker import TimelineWorker

    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    tracker = DialogueStateTracker("cus_ana", DOMAIN.slots)
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 0.99}, metadata={"channel": "whatsapp"}))
    tracker.update(BotUttered("hello!"))
    await store.save(tracker)
    client = aioredis.Redis.from_url(redis_url)
    worker = TimelineWorker(client, hubspot, block_ms=10)
    await worker.ensure_group()
    await worker.process_once(pending=False)
    await worker.client.delete("tl:crm:cursor")  # replay everything: still one note per message
    await worker.reconcile()
    bodies = sorted(n["properties"]["hs_note_body"] for n in sandbox.objects["notes"].values())
    assert bodies == ["[whatsapp] bot: hello!", "[whatsapp] customer: hi (intent greet, 0.99)"]
    await client.close(close_connection_pool=True)
    await store.close()
