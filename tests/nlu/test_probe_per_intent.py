"""embedding_probe --per-intent: the designer's list of weak intents and where their examples went."""
from threadline.evaluation.embedding_probe import per_intent_report


def test_weakest_intent_first_with_its_mistakes() -> None:
    truth = ["feedback", "feedback", "complaint", "complaint", "greet"]
    guesses = ["feedback", "complaint", "complaint", "complaint", "greet"]
    texts = ["amei", "nada a reclamar", "pessimo", "absurdo", "oi"]

    lines = per_intent_report(truth, guesses, texts).splitlines()

    assert lines[0].split()[:2] == ["0.667", "feedback"]
    assert "as: {'complaint': 1}" in lines[0]
    assert "from: {'feedback': 1}" in lines[1] and lines[1].split()[1] == "complaint"
    assert lines[2].split()[:2] == ["1.000", "greet"]
    assert lines[3:] == ["  feedback -> complaint: 'nada a reclamar'"]
