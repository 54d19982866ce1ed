"""The corpus checks catch what they name, on turns written here (no stack needed); and the
corpus files follow the format."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conversations.checks import BotMessage, ObservedTurn, check_conversation, project_domain
from tests.conversations.corpus import CorpusError, Expectation, Turn, load_corpus, load_file


def said(text: str, channel: str = "whatsapp", closer: bool = False, **expect) -> Turn:
    return Turn(text=text, channel=channel, closer=closer, expect=Expectation(**expect))


def answered(turn: Turn, *texts: str, intent: str = "greet", responses=(), channel: str = "whatsapp",
             **fields) -> ObservedTurn:
    return ObservedTurn(turn=turn, finished=True, intent=intent, responses=list(responses),
                        messages=[BotMessage(channel, text) for text in texts], **fields)


def checks(*observed: ObservedTurn, language: str = "en"):
    return [(f.turn, f.check) for f in check_conversation(observed, language, project_domain(),
                                                          detect=lambda text: None)]


def test_a_clean_conversation_has_no_findings():
    assert checks(answered(said("hi"), "Hi! How can I help you today?"),
                  answered(said("thanks", closer=True), "You're welcome!", intent="thank")) == []


@pytest.mark.parametrize("text", [
    "I've opened case #1 about order None: our team will sort it out.",
    "Did you mean 'order_status'? 1. Yes 2. No",
    "Thanks! A colleague will contact you at {email} shortly.",
    "utter_ask_order_id",
    "Your total is null",
])
def test_leaks_are_found(text):
    assert (1, "leak") in checks(answered(said("my payment failed"), text))


def test_a_form_question_after_thanks_is_found_by_intent_or_by_the_authors_mark():
    thanks = answered(said("ok thanks"), "You're welcome!", "Which product do you mean?", intent="thank",
                      responses=["utter_you_are_welcome", "utter_ask_product"])
    never_mind = answered(said("never mind", closer=True), "What's your order number?", intent="deny",
                          requested_slots=["order_id"])
    assert (1, "form_question_after_closer") in checks(thanks)
    assert (1, "form_question_after_closer") in checks(never_mind)


def test_the_same_question_in_two_turns_in_a_row_is_found_but_an_answer_twice_is_not():
    ask = answered(said("where is my order"), "What's your order number? It starts with TL.")
    again = answered(said("hm"), "What's your order number? It starts with TL.")
    assert (2, "repeated_question") in checks(ask, again)
    by_name = answered(said("where is my order"), "Order number?", responses=["utter_ask_order_id"])
    reworded = answered(said("hm"), "Your order number, please", responses=["utter_ask_order_id"])
    assert (2, "repeated_question") in checks(by_name, reworded)
    answer = answered(said("how long?"), "Standard: 3-7 business days. Paid before 2 pm? It ships today.")
    assert checks(answer, answered(said("how long did you say?"), answer.messages[0].text)) == []


def test_a_turn_without_an_answer_is_found_unless_a_person_has_the_conversation():
    assert (1, "no_answer") in checks(answered(said("hello?")))
    assert (1, "no_answer") in checks(ObservedTurn(turn=said("hello?")))
    assert checks(answered(said("hello?"), paused_before=True)) == []


def test_slot_values_must_be_of_their_kind_and_as_expected():
    city = answered(said("how long to Sao Paulo?"), "3-7 business days.", slots={"product": "Sao Paulo"})
    assert (1, "slot_value") in checks(city)
    expected = answered(said("TL-48213", slots={"order_id": "TL-48213"}), "Found it.", slots={"order_id": None})
    assert (1, "expectation") in checks(expected)


def test_expectations_words_intent_question_and_handoff():
    turn = said("where is TL-48213?", intents=("order_status",), says=("TL-48213",), not_says=("How can I help",),
                asks="none", handoff=False)
    good = answered(turn, "Your order TL-48213 is late.", intent="order_status")
    assert checks(good) == []
    bad = answered(turn, "Hi! How can I help?", intent="greet", requested_slots=["order_id"], handed_off=True)
    assert [check for _, check in checks(bad)].count("expectation") == 5


def test_wrong_channel_and_wrong_language_are_found():
    turn = said("any update?", channel="sms")
    on_whatsapp = answered(turn, "Your order TL-48213 is late.", channel="whatsapp")
    assert (1, "wrong_channel") in checks(on_whatsapp)
    findings = check_conversation([answered(said("oi"), "Hi there, how can I help?")], "pt", project_domain(),
                                  detect=lambda text: "en")
    assert [f.check for f in findings] == ["wrong_language"]


def test_the_language_is_held_only_once_the_customer_has_shown_it():
    def detect(text):
        return {"TL-48213": None, "where is it?": "en"}.get(text, "pt")
    default = answered(said("TL-48213"), "Anotei o pedido TL-48213.")
    stays = answered(said("where is it?"), "O pedido TL-48213 está atrasado.")
    findings = check_conversation([default, stays], "en", project_domain(), detect=detect)
    assert [(f.turn, f.check) for f in findings] == [(2, "wrong_language")]


def test_the_corpus_follows_the_format_and_is_big_enough():
    corpus = load_corpus()
    assert len(corpus) >= 80
    assert sum(c.language == "pt" for c in corpus) >= 30
    assert len({c.name for c in corpus}) == len(corpus)


def test_a_malformed_file_is_refused_naming_the_place(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("conversations:\n  - name: x\n    language: en\n    turns:\n      - say: yes\n")
    with pytest.raises(CorpusError, match="bad.yml x turn 1: say must be"):
        load_file(bad)
    bad.write_text("conversations:\n  - name: x\n    language: en\n    turns:\n      - say: hi\n        expect: {sayz: [a]}\n")
    with pytest.raises(CorpusError, match="unknown keys"):
        load_file(bad)
