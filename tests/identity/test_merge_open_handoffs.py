"""A merge where both customers have an open handoff: the older one stays, the newer one is
closed with a note naming the merge; never an IntegrityError (real CRM database and Redis)."""
from __future__ import annotations

from threadline.crm.models import Handoff, HandoffEvent
from threadline.handoff.store import OpenHandoff, open_handoffs


async def test_the_older_open_handoff_stays_and_the_newer_is_closed_with_a_note(services):
    ana = await services.resolver.resolve("whatsapp", "5511987654321")
    bia = await services.resolver.resolve("instagram", "17841400000000001")
    opened = OpenHandoff(services.db)
    older = (await opened(bia, reason="complaint", channel="instagram", summary_text="late order",
                          summary={})).handoff
    newer = (await opened(ana, reason="requested", channel="whatsapp", summary_text="wants a person",
                          summary={})).handoff

    result = await services.merge()(ana, bia, actor="agent:carla", reason="same person")

    assert [h.id for h in await open_handoffs(services.db)] == [older.id]
    state = await services.db.run(lambda s: {
        h.id: (h.customer_id, h.status, h.resolution) for h in s.query(Handoff)})
    assert state == {older.id: (ana, "waiting", None), newer.id: (ana, "resolved", "closed")}
    notes = await services.db.run(lambda s: [
        (e.kind, e.actor, e.detail) for e in s.query(HandoffEvent).filter_by(handoff_id=newer.id, kind="closed")])
    assert len(notes) == 1 and notes[0][:2] == ("closed", "merge")
    assert f"merge #{result.audit_id}" in notes[0][2] and older.id in notes[0][2]
