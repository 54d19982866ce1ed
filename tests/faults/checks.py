"""What the fault tests check after a failure, on a running `Stack`: the customer's exchange
with the bot (through the sandbox provider), each message once in the tracker and answered
once at the provider, and the CRM timeline mirroring the log row for row."""
from __future__ import annotations

from typing import List, Tuple

from tests.support.stack import Stack, turns, wait_until


def exchange(stack: Stack, address: str, text: str, channel: str = "whatsapp") -> str:
    """The customer writes and waits for the bot's next message; returns the provider id."""
    before = len(stack.bot_messages(channel, address))
    message_id = stack.say(channel, address, text)
    wait_until(lambda: len(stack.bot_messages(channel, address)) > before, 300,
               f"an answer to {text!r} from {address}")
    return message_id


def quiet(stack: Stack) -> None:
    """Nothing in flight on WhatsApp: every sent message's receipts were consumed, so the next
    inbox entry is the customer's next message. (Instagram's only receipt is an echo, which
    records nothing a test can wait for; no scenario arms an inbox point on Instagram.)"""
    wait_until(lambda: stack.delivered("whatsapp"), 60, "every WhatsApp receipt to be consumed")


def timeline_caught_up(stack: Stack, customer_id: str) -> List[Tuple[str, str, str]]:
    """The CRM rows of the customer once they mirror every message of its log: (author, text,
    provider id) each, in log order; fails if rows are missing or extra."""
    expected = expected_rows(stack, customer_id)

    def rows():
        return [(author, text, provider_id) for _, author, text, provider_id in stack.crm_rows(customer_id)]

    def complete():
        now = rows()
        return now if len(now) >= len(expected) else None

    try:
        found = wait_until(complete, 120, f"the CRM timeline of {customer_id} to catch up")
    except AssertionError as waited:
        raise AssertionError(f"{waited}: {len(rows())} rows for {len(expected)} messages; missing "
                             f"{[row for row in expected if row not in rows()]}") from None
    assert sorted(found, key=repr) == sorted(expected, key=repr), "CRM timeline rows differ from the log"
    return found


def expected_rows(stack: Stack, customer_id: str) -> List[Tuple[str, str, str]]:
    rows = []
    for turn in turns(stack.events(customer_id)):
        rows.append(("customer", turn.text, turn.provider_message_id))
        rows.extend(("bot", text, None) for text in turn.bot_texts)
    return rows


def assert_each_message_once(stack: Stack, channel: str, address: str, sent_ids: List[str],
                             not_from_turns: int = 0) -> str:
    """The tracker has each message once, in order, each answered; the provider received each
    answer once. `not_from_turns`: messages the bot sent outside turns (claim codes)."""
    customer_id = stack.customer_of(channel, address)
    held = [t for t in turns(stack.events(customer_id))
            if t.provider_message_id in sent_ids]
    assert [t.provider_message_id for t in held] == sent_ids, "a message lost or held twice by the tracker"
    assert all(t.bot_texts for t in held), "a message never answered"
    answered = [text for t in held for text in t.bot_texts]
    received = stack.bot_messages(channel, address)
    assert len(received) - not_from_turns == len(answered), \
        f"the provider received {len(received)} messages for {len(answered)} answers"
    assert [text for text in received if text in answered] == answered, "an answer sent twice or out of order"
    return customer_id
