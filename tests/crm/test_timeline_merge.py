"""The CRM timeline across a merge and an unlink, with the real tracker store, timeline worker,
identity services and CRM database (SQLite and PostgreSQL): a merge followed by a full replay
adds no row, and an unlink leaves none of the other person's messages in the survivor's
timeline or console page."""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.crm.test_timeline import drain, say
from threadline.console.reads import conversation
from threadline.conversation.event_ids import EVENT_ID, event_id
from threadline.crm.interface import InteractionRecord
from threadline.crm.models import Interaction
from threadline.crm.timeline_worker import CURSOR_KEY, TimelineWorker
from threadline.handoff.store import OpenHandoff
from threadline.identity.merge import latest_merge_of
from threadline.identity.services import IdentityServices

THE_OTHER = "[bia]"  # every message of the merged customer, hers and the bot's answers, says so




@pytest.fixture
async def identity(database, redis_url):
    services = IdentityServices(database, redis_url)
    yield services
    await services.close()


async def rows(database) -> list:
    return await database.run(lambda s: [
        (r.customer_id, r.text, r.idempotency_key) for r in s.scalars(select(Interaction).order_by(Interaction.id))])


async def texts_of(crm, customer_id: str) -> list:
    return [r.text for r in await crm.crm.timeline(customer_id, limit=1000)]


async def full_replay(worker: TimelineWorker) -> None:
    """As if every cursor were lost: read every customer's log from the start again."""
    await worker.client.delete(CURSOR_KEY)
    await worker.reconcile()
    await drain(worker)


async def two_people_then_merge(identity, store, worker):
    """Ana and Bia wrote; Bia's last message is not in the CRM yet when an agent merges them."""
    ana = await identity.resolver.resolve("whatsapp", "5511987654321")
    bia = await identity.resolver.resolve("instagram", "17841400000000001")
    await say(store, ana, "whatsapp", "where is my order?", "on its way", "wa-1")
    await say(store, bia, "instagram", f"{THE_OTHER} hello", f"{THE_OTHER} hi there", "ig-1")
    await drain(worker)
    await say(store, bia, "instagram", f"{THE_OTHER} still there?", f"{THE_OTHER} yes", "ig-2")
    result = await identity.merge()(ana, bia, actor="agent:carla", reason="looked like one person")
    await drain(worker)
    return ana, bia, result


async def test_a_merge_and_a_full_replay_add_no_row(identity, store, worker, crm, database):
    ana, bia, _ = await two_people_then_merge(identity, store, worker)
    after_merge = await rows(database)
    # Each message once, all of them now the survivor's, the unsynced one included.
    assert len(after_merge) == 6 and {customer for customer, _, _ in after_merge} == {ana}
    assert Counter(await texts_of(crm, ana)) == Counter([
        "where is my order?", "on its way", f"{THE_OTHER} hello", f"{THE_OTHER} hi there",
        f"{THE_OTHER} still there?", f"{THE_OTHER} yes"])

    await full_replay(worker)
    assert await rows(database) == after_merge
    await say(store, ana, "whatsapp", "thanks", "you're welcome", "wa-2")
    await drain(worker)
    assert len(await rows(database)) == 8


async def test_an_unlink_takes_the_other_persons_messages_out_of_the_timeline_and_console(
        identity, store, worker, crm, database):
    ana, bia, merged = await two_people_then_merge(identity, store, worker)
    await say(store, ana, "whatsapp", "one more question", "sure", "wa-3")  # the survivor's, after the merge
    # After the merge, from the other person's Instagram: theirs again once unlinked.
    await say(store, ana, "instagram", f"{THE_OTHER} me again", f"{THE_OTHER} welcome back", "ig-3",
              address="17841400000000001")
    await drain(worker)
    handoff = (await OpenHandoff(database)(ana, reason="requested", channel="whatsapp",
                                           summary_text="", summary={})).handoff

    merge_id = await database.run(lambda s: latest_merge_of(s, bia))
    assert merge_id == merged.audit_id
    await identity.unlink()(merge_id, actor="agent:carla", reason="two different people")
    await drain(worker)

    assert [t for t in await texts_of(crm, ana) if THE_OTHER in t] == []
    assert Counter(await texts_of(crm, ana)) == Counter(
        ["where is my order?", "on its way", "one more question", "sure"])
    assert Counter(await texts_of(crm, bia)) == Counter([
        f"{THE_OTHER} hello", f"{THE_OTHER} hi there", f"{THE_OTHER} still there?", f"{THE_OTHER} yes",
        f"{THE_OTHER} me again", f"{THE_OTHER} welcome back"])
    assert [e["text"] for e in await store.read_history(bia) if e.get("event") == "user"] == [
        f"{THE_OTHER} hello", f"{THE_OTHER} still there?", f"{THE_OTHER} me again"]
    page = await conversation(database, handoff.id)
    assert [e.text for e in page.timeline if THE_OTHER in e.text] == []
    assert len(page.timeline) == 4

    unlinked = await rows(database)
    await full_replay(worker)
    assert await rows(database) == unlinked


async def test_a_duplicate_key_written_concurrently_is_already_written(crm, database):
    """Two writers racing on the same records: each row once, no error, nothing lost."""
    records = [InteractionRecord("cus_race", "customer", "sms", f"message {n}", datetime(2026, 12, 1, 12, n),
                                 f"evt:race-{n}") for n in range(20)]
    written = await asyncio.gather(*(crm.crm.record_interactions(records) for _ in range(4)))
    assert sum(written) == 20
    count = await database.run(lambda s: s.scalar(select(func.count()).select_from(Interaction)))
    assert count == 20


async def test_rows_written_before_stable_ids_for_merged_events_are_found_again(identity, store, worker, crm, database):
    """A merge before this version tagged each event and the timeline keyed the tagged event as
    stored: those rows are this message, not a new one, on a full replay and on an unlink."""
    ana, bia, merged = await two_people_then_merge(identity, store, worker)
    # The log as the earlier version left it: events without ids, tagged by the merge.
    with_ids = await identity.histories.read_history(ana)
    log = [{k: v for k, v in e.items() if k != EVENT_ID} for e in with_ids]
    await identity.histories.rewrite_history(ana, log)

    def old_key(event: dict) -> str:
        return "rasa:" + hashlib.sha256((ana + "\n" + json.dumps(event, sort_keys=True)).encode()).hexdigest()[:40]

    # ...and the rows as it wrote them for the merged events: keyed on the stored JSON.
    tagged = {event_id(ana, e): old_key(plain) for e, plain in zip(with_ids, log) if plain.get("threadline_origin")}

    def rekey(session) -> int:
        changed = 0
        for row in session.scalars(select(Interaction).where(Interaction.idempotency_key.in_(list(tagged)))):
            row.idempotency_key = tagged[row.idempotency_key]
            changed += 1
        return changed

    assert await database.run(rekey) == 6
    before = await rows(database)
    await full_replay(worker)
    assert await rows(database) == before

    await identity.unlink()(merged.audit_id, actor="agent:carla", reason="two people")
    await drain(worker)
    assert [t for t in await texts_of(crm, ana) if THE_OTHER in t] == []
    assert len(await texts_of(crm, bia)) == 4
