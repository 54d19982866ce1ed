"""The lexicon scorer behind the sentiment trend and the strong-negative handoff trigger."""
from __future__ import annotations

from threadline.handoff.sentiment import STRONG_NEGATIVE, label, score, trend


def test_questions_are_calm_and_an_angry_complaint_crosses_the_handoff_threshold():
    assert label(score("Hi, do you have the Drift Running Shoes in size 42?")) == "calm"
    assert label(score("Where is my order TL-48213?")) == "calm"
    angry = score("This is unacceptable, two weeks late and nobody answers. Worst service ever!")
    assert angry <= STRONG_NEGATIVE
    assert score("I'm a bit disappointed it's late") > STRONG_NEGATIVE  # annoyed, not a handoff
    assert label(score("thanks, that was really helpful!")) == "pleased"


def test_portuguese_with_or_without_accents():
    assert score("Péssimo atendimento, estou muito decepcionado!") <= STRONG_NEGATIVE
    assert score("pessimo atendimento, estou muito decepcionado!") == score(
        "Péssimo atendimento, estou muito decepcionado!")
    assert label(score("Obrigada, perfeito!")) == "pleased"


def test_negation_intensifiers_shouting_and_exclamations_move_the_score():
    assert score("I am happy") > 0 > score("I am not happy")
    assert score("the service was bad") > score("the service was very bad")
    assert score("this is unacceptable") > score("this is UNACCEPTABLE") > -1
    assert score("this is unacceptable") > score("this is unacceptable!!!")
    assert score("never again") < score("again")  # a phrase scores as one term
    assert score("") == 0.0 and score("   ") == 0.0


def test_trend_names_first_worst_and_last_mood():
    calm, annoyed, angry, pleased = 0.0, -0.4, -0.9, 0.6
    assert trend([calm, calm, angry]) == "calm → angry"
    assert trend([calm, angry, pleased]) == "calm → angry → pleased"
    assert trend([annoyed, annoyed]) == "annoyed throughout"
    assert trend([]) == "no customer messages"
