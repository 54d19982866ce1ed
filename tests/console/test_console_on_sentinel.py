"""The agent console on Redis Sentinel (1 primary, 2 replicas, 3 sentinels started here):
its login, CSRF, throttling, live updates, notes, replies and dead-letter tests run again
through a `redis+sentinel://` URL (sessions, throttle, channel records and inbox on Redis)."""
from __future__ import annotations

import pytest

from tests.console.test_agent_operations import (  # noqa: F401  (collected here, on Sentinel)
    test_a_note_is_kept_for_colleagues_and_never_sent, test_replies_need_a_claim_and_a_channel_the_customer_has)
from tests.console.test_dead_letters import (  # noqa: F401
    test_the_queue_shows_dead_letters_with_customer_and_reason_but_no_message)
from tests.console.test_live_updates import (  # noqa: F401
    test_a_new_customer_message_appears_in_the_open_conversation, test_a_new_escalation_appears_in_an_open_queue)
from tests.console.test_login_and_csrf import (  # noqa: F401
    test_a_forged_post_without_the_csrf_token_changes_nothing, test_login_lands_on_the_queue_and_logout_ends_the_session,
    test_one_agent_cannot_act_on_a_handoff_another_agent_took, test_password_guessing_is_stopped_after_ten_wrong_passwords)
from tests.support.sentinel import SentinelSetup


@pytest.fixture(scope="module")
def redis_server():
    """Overrides the session's plain Redis for this module: `redis_url` is redis+sentinel://."""
    setup = SentinelSetup()
    yield setup
    setup.stop()
