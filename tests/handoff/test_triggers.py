"""Sensitive topics and strongly negative language, from data/handoff_triggers.yml, and the NLU
component that turns them into a handoff whatever the classifier said."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from threadline.handoff.triggers import Escalation, Triggers
from threadline.nlu.escalation import EscalationDetector

TRIGGERS = Triggers.load()


@pytest.mark.parametrize("text, topic", [
    ("I'm going to call my lawyer about this", "legal_threat"),
    ("vou reclamar no PROCON", "legal_threat"),
    ("someone made an unauthorized charge on my card", "fraud"),
    ("I will file a chargeback with my bank", "chargeback"),
    ("please delete my personal data, GDPR", "data_deletion"),
    ("quero que apaguem... não, quero APAGAR MEUS DADOS", "data_deletion"),
    ("honestly I want to die, nothing works", "self_harm"),
])
def test_sensitive_topics_from_the_designers_list(text, topic):
    assert TRIGGERS.escalation(text) == Escalation("sensitive_topic", topic)


@pytest.mark.parametrize("text", [
    "where is my order TL-48213?",
    "Sue from accounting asked me to order 3 chairs",  # a name, not a threat
    "can I pay by card?",
    "the box was a bit damaged but the lamp is fine",
    "this is not bad at all, thanks",
    "I'd like to cancel my order please",
])
def test_ordinary_messages_do_not_escalate(text):
    assert TRIGGERS.escalation(text) is None


@pytest.mark.parametrize("text", [
    "This is the WORST service ever, absolutely disgusting!!",
    "I am so angry, this is ridiculous",
    "três semanas esperando, péssimo atendimento, uma vergonha!",
])
def test_strongly_negative_language_escalates(text):
    escalation = TRIGGERS.escalation(text)
    assert escalation is not None and escalation.reason == "negative_sentiment"


def test_the_threshold_and_topics_come_from_the_file(tmp_path):
    config = tmp_path / "triggers.yml"
    config.write_text("strong_negative_threshold: -0.99\nsensitive_topics:\n  warranty: [extended warranty]\n")
    triggers = Triggers.load(config)
    assert triggers.escalation("I want the Extended   Warranty") == Escalation("sensitive_topic", "warranty")
    assert triggers.escalation("I will call my lawyer") is None  # not in this list
    assert triggers.escalation("I am so angry, this is ridiculous") is None  # below -0.99 only


def parse(detector: EscalationDetector, text: str, intent: str) -> dict:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.62}, add_to_output=True)  # as a classifier does
    [message] = detector.process([message])
    return message.as_dict(only_output_properties=True)


def test_the_nlu_component_relabels_escalations_and_keeps_what_the_classifier_said():
    detector = EscalationDetector(TRIGGERS)
    chargeback = parse(detector, "I will file a chargeback", "payment_problem")
    assert chargeback["intent"] == {"name": "request_human", "confidence": 1.0}
    assert chargeback["escalation"] == {"reason": "sensitive_topic", "detail": "chargeback", "intent": "payment_problem"}
    angry = parse(detector, "WHERE IS MY ORDER, this is absolutely ridiculous!!!", "order_status")
    assert angry["intent"]["name"] == "complaint"
    assert angry["escalation"]["reason"] == "negative_sentiment"
    # A complaint stays a complaint (its own reason); ordinary messages are untouched.
    complaint = parse(detector, "this is absolutely ridiculous, worst shop ever!!!", "complaint")
    assert complaint["intent"]["name"] == "complaint" and "escalation" not in complaint
    calm = parse(detector, "where is my order?", "order_status")
    assert calm["intent"] == {"name": "order_status", "confidence": 0.62} and "escalation" not in calm
