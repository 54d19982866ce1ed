"""Identity resolution (CRM + the Redis identity index) on Redis Sentinel (1 primary,
2 replicas, 3 sentinels started here): the resolver tests of test_identity_resolver.py run
again through a `redis+sentinel://` URL, on SQLite and PostgreSQL like the originals."""
from __future__ import annotations

import pytest

from tests.identity.test_identity_resolver import (  # noqa: F401  (collected here, on Sentinel)
    test_index_lost_then_crm_answers_the_same, test_route_follows_the_channel_used_last,
    test_same_phone_on_whatsapp_and_sms_is_one_customer, test_two_simultaneous_first_messages_create_exactly_one_customer,
    test_whatsapp_user_id_is_stored_beside_the_phone_and_resolves_alone)
from tests.support.sentinel import SentinelSetup


@pytest.fixture(scope="module")
def redis_server():
    """Overrides the session's plain Redis for this module: `redis_url` is redis+sentinel://."""
    setup = SentinelSetup()
    yield setup
    setup.stop()
