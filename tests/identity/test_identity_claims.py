"""ClaimIdentity / VerifyClaim: an Instagram user says "I'm ana@example.com"."""
from __future__ import annotations

from datetime import timedelta

import pytest

from threadline.crm.models import ChannelIdentity, IdentityClaim
from threadline.crm.models.base import utcnow
from threadline.identity.claims import ClaimIdentity, ClaimRefused, VerifyClaim
from tests.identity.helpers import save_turns, user_texts


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def scene(services, code_sender, claim_limits, clock):
    """Ana wrote by email before; a new Instagram user claims her address."""
    ana = await services.resolver.resolve("email", "Ana Souza <ana@example.com>")
    await save_turns(services.histories, ana, [(1000.0, "where is my order 123?")])
    stranger = await services.resolver.resolve("instagram", "17841400000000001")
    await save_turns(services.histories, stranger, [(2000.0, "I'm ana@example.com")])
    claim = ClaimIdentity(services.db, code_sender, claim_limits, clock=clock)
    verify = VerifyClaim(services.db, services.index, services.merge(), clock=clock)
    return ana, stranger, claim, verify


def _code(code_sender) -> str:
    return code_sender.sent[-1][2]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


async def test_merges_only_after_the_right_code(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    started = await claim(stranger, "ANA@example.com")
    # The code went to the claimed address itself, by email.
    assert code_sender.sent[0][:2] == ("email", "ana@example.com")
    assert started.kind == "email"
    wrong = await verify(stranger, _wrong(_code(code_sender)))
    assert (wrong.status, wrong.attempts_left, wrong.customer_id) == ("wrong_code", 4, None)
    assert await services.resolver.resolve("instagram", "17841400000000001") == stranger

    outcome = await verify(stranger, _code(code_sender))
    assert outcome.status == "verified" and outcome.customer_id == ana
    assert await services.resolver.resolve("instagram", "17841400000000001") == ana
    assert user_texts(await services.histories.read_history(ana)) == ["where is my order 123?", "I'm ana@example.com"]


async def test_five_wrong_codes_lock_the_claim_even_for_the_right_code(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    await claim(stranger, "ana@example.com")
    code = _code(code_sender)
    statuses = [(await verify(stranger, _wrong(code))).status for _ in range(5)]
    assert statuses == ["wrong_code"] * 4 + ["locked"]
    late = await verify(stranger, code)
    assert late.status != "verified" and late.customer_id is None
    assert await services.resolver.resolve("instagram", "17841400000000001") == stranger
    assert user_texts(await services.histories.read_history(ana)) == ["where is my order 123?"]


async def test_an_expired_code_does_not_merge(services, scene, code_sender, clock):
    ana, stranger, claim, verify = scene
    await claim(stranger, "ana@example.com")
    clock.now += timedelta(minutes=10, seconds=1)
    outcome = await verify(stranger, _code(code_sender))
    assert outcome.status == "expired" and outcome.customer_id is None
    assert await services.resolver.resolve("instagram", "17841400000000001") == stranger


async def test_a_claim_reveals_nothing_about_the_other_record(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    owned = await claim(stranger, "ana@example.com")
    unknown = await claim(stranger, "nobody@example.com")
    # Same shape and content apart from the claim id and expiry: nothing says whether it matched.
    assert (owned.kind, type(owned)) == (unknown.kind, type(unknown))
    assert ana not in repr(owned) and "Souza" not in repr(owned)
    # The unmatched claim is stored as a claimed, unverified identity; the matched one is not
    # copied onto the claimant.
    rows = await services.db.run(lambda s: [(r.key, r.verified, r.source) for r in
                                            s.query(ChannelIdentity).filter_by(customer_id=stranger)])
    assert ("email:nobody@example.com", False, "claim") in rows
    assert not any(key == "email:ana@example.com" for key, _, _ in rows)
    # An unverified claim never routes messages: a mail from that address is someone else.
    assert await services.resolver.resolve("email", "nobody@example.com") != stranger


async def test_verifying_an_unmatched_claim_makes_it_a_verified_identity(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    await claim(stranger, "+55 21 99876-5432")
    assert code_sender.sent[-1][:2] == ("sms", "+5521998765432")
    assert (await verify(stranger, _code(code_sender))).status == "verified"
    assert await services.resolver.resolve("whatsapp", "5521998765432") == stranger


async def test_phone_claim_code_goes_to_the_owners_exact_whatsapp_address(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    owner = await services.resolver.resolve("whatsapp", "559281723241")  # old Brazilian form
    await claim(stranger, "+55 92 98172-3241")
    assert code_sender.sent[-1][:2] == ("whatsapp", "559281723241")
    assert (await verify(stranger, _code(code_sender))).customer_id == owner


async def test_claims_are_rate_limited_and_a_new_claim_replaces_the_pending_one(services, scene, code_sender):
    ana, stranger, claim, verify = scene
    await claim(stranger, "ana@example.com")
    first_code = _code(code_sender)
    await claim(stranger, "ana@example.com")
    assert (await verify(stranger, first_code)).status != "verified" or first_code == _code(code_sender)
    await claim(stranger, "ana@example.com")
    with pytest.raises(ClaimRefused):
        await claim(stranger, "ana@example.com")
    statuses = await services.db.run(lambda s: sorted(c.status for c in s.query(IdentityClaim)))
    assert statuses.count("replaced") == 2


async def test_inside_a_turn_the_merge_waits_for_the_turn_to_release_the_lock(services, scene, code_sender):
    import asyncio

    ana, stranger, claim, verify = scene
    await claim(stranger, "ana@example.com")
    async with services.locks.lock(stranger):  # Rasa holds the claimant's lock during the action
        outcome = await asyncio.wait_for(verify(stranger, _code(code_sender), defer_merge=True), 10)
        assert (outcome.status, outcome.customer_id) == ("verified", ana)
        await asyncio.sleep(0.3)
        assert await services.resolver.resolve("instagram", "17841400000000001") == stranger
    await asyncio.wait_for(verify.settle(), 10)  # the turn ended: the deferred merge ran
    assert await services.resolver.resolve("instagram", "17841400000000001") == ana
    assert user_texts(await services.histories.read_history(ana)) == ["where is my order 123?", "I'm ana@example.com"]
