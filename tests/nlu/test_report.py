"""The nlu-report summary: figures and confused pairs read from Rasa's report files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.nlu.report import (
    Prediction,
    calibrate,
    confidence_bins,
    expected_calibration_error,
    fallback_threshold,
    main,
    render,
    summarise,
)


def write_reports(out: Path, refund_status_f1: float, phone_f1: float) -> None:
    """Report files in the shape `rasa test nlu --cross-validation` writes them."""
    intents = {
        "refund_request": {"precision": 0.9, "recall": 0.95, "f1-score": 0.92, "support": 40,
                           "confused_with": {"refund_status": 2}},
        "refund_status": {"precision": 0.9, "recall": 0.8, "f1-score": refund_status_f1,
                          "support": 40, "confused_with": {"refund_request": 6, "order_status": 1}},
        "accuracy": 0.9,
        "macro avg": {"f1-score": (0.92 + refund_status_f1) / 2, "support": 80},
        "weighted avg": {"f1-score": (0.92 + refund_status_f1) / 2, "support": 80},
    }
    (out / "intent_report.json").write_text(json.dumps(intents))
    rules = {"phone": {"f1-score": phone_f1, "support": 20},
             "order_id": {"f1-score": 1.0, "support": 30}, "email": {"f1-score": 0.97, "support": 25},
             "micro avg": {"f1-score": 0.9, "support": 75}}
    (out / "StructuredEntityExtractor_report.json").write_text(json.dumps(rules))
    diet = {"quantity": {"f1-score": 0.8, "support": 10}, "phone": {"f1-score": 0.4, "support": 20}}
    (out / "DIETClassifier_report.json").write_text(json.dumps(diet))


def test_summary_ranks_confusions_and_takes_each_entitys_scores_per_extractor(tmp_path):
    write_reports(tmp_path, refund_status_f1=0.88, phone_f1=0.95)
    summary = summarise(tmp_path)
    assert summary.confused_pairs[0] == ("refund_status", "refund_request", 6)
    assert summary.entity_f1["phone"] == {"StructuredEntityExtractor": 0.95, "DIETClassifier": 0.4}
    assert "micro avg" not in summary.entity_f1
    assert summary.missed_targets == []
    assert "refund_status -> refund_request: 6" in render(summary)


def test_missed_targets_fail_the_command(tmp_path, capsys):
    write_reports(tmp_path, refund_status_f1=0.60, phone_f1=0.85)
    with pytest.raises(SystemExit) as exit_info:
        main(["--summarise-only", "--out", str(tmp_path)])
    assert exit_info.value.code == 1
    printed = capsys.readouterr().out
    assert "MISSED" in printed and "phone F1 0.850" in printed and "intent macro-F1 0.760" in printed
    assert json.loads((tmp_path / "summary.json").read_text())["intent_macro_f1"] == pytest.approx(0.76)


def predictions(*rows: tuple) -> list:
    return [Prediction(target, predicted, confidence) for target, predicted, confidence in rows]


def test_bins_are_equal_width_and_hold_their_accuracy_and_mean_confidence():
    bins = confidence_bins(predictions(
        ("a", "a", 0.05), ("a", "b", 0.15), ("a", "a", 0.95), ("a", "b", 0.91), ("a", "a", 1.0)))
    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert (bins[0].lower, bins[0].upper) == (0.0, 0.1)
    assert bins[1].accuracy == 0.0 and bins[1].mean_confidence == pytest.approx(0.15)
    assert bins[2].accuracy is None and bins[2].mean_confidence is None
    assert bins[9].accuracy == pytest.approx(2 / 3)
    assert bins[9].mean_confidence == pytest.approx((0.95 + 0.91 + 1.0) / 3)


def test_expected_calibration_error_weights_each_bins_gap_by_its_count():
    bins = confidence_bins(predictions(
        ("a", "a", 0.3), ("a", "b", 0.4), ("a", "a", 0.9), ("a", "a", 1.0)))
    assert [b.count for b in bins] == [0, 0, 0, 1, 1, 0, 0, 0, 0, 2]
    # 0.3: right, gap 0.7; 0.4: wrong, gap 0.4; 0.9 and 1.0: both right, mean 0.95, gap 0.05
    assert expected_calibration_error(bins) == pytest.approx((0.7 + 0.4 + 2 * 0.05) / 4)


def test_a_perfectly_calibrated_set_has_no_calibration_error():
    rows = [("a", "a", 0.75)] * 3 + [("a", "b", 0.75)] + [("a", "a", 1.0)] * 2
    assert expected_calibration_error(confidence_bins(predictions(*rows))) == pytest.approx(0.0)
    assert expected_calibration_error(confidence_bins([])) == 0.0


def test_fallback_and_confident_wrong_rates_split_at_the_threshold():
    calibration = calibrate(predictions(
        ("a", "a", 0.9), ("a", "a", 0.39), ("a", "b", 0.35), ("a", "b", 0.4), ("a", "a", 0.4)),
        threshold=0.4)
    assert calibration.accuracy == pytest.approx(3 / 5)
    assert calibration.fallback_rate == pytest.approx(2 / 5)  # 0.4 itself is answered, as in Rasa
    assert calibration.right_but_below_threshold_rate == pytest.approx(1 / 5)
    assert calibration.confident_wrong_rate == pytest.approx(1 / 5)
    assert calibration.top_two_rate is None and "top-two" in calibration.note


def test_the_threshold_is_read_from_the_pipelines_fallback_classifier(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text("pipeline:\n  - name: WhitespaceTokenizer\n"
                      "  - name: FallbackClassifier\n    threshold: 0.55\n")
    assert fallback_threshold(config) == 0.55
    config.write_text("pipeline:\n  - name: FallbackClassifier\n")
    assert fallback_threshold(config) == 0.3  # Rasa's default


def write_predictions(out: Path) -> None:
    """intent_errors.json and intent_successes.json as `rasa test nlu --successes` writes them."""
    def entry(text: str, intent: str, predicted: str, confidence: float) -> dict:
        return {"text": text, "intent": intent,
                "intent_prediction": {"name": predicted, "confidence": confidence}}
    errors = [entry("my refund?", "refund_status", "refund_request", 0.62),
              entry("money back", "refund_status", "refund_request", 0.31)]
    successes = [entry("refund please", "refund_request", "refund_request", 0.97),
                 entry("where is my refund", "refund_status", "refund_status", 0.93),
                 entry("refund", "refund_request", "refund_request", 0.35)]
    (out / "intent_errors.json").write_text(json.dumps(errors))
    (out / "intent_successes.json").write_text(json.dumps(successes))


def test_the_report_writes_the_confidence_figures_and_the_reliability_diagram(tmp_path, capsys):
    write_reports(tmp_path, refund_status_f1=0.88, phone_f1=0.95)
    write_predictions(tmp_path)
    config = tmp_path / "config.yml"
    config.write_text("pipeline:\n  - name: FallbackClassifier\n    threshold: 0.4\n")

    main(["--summarise-only", "--out", str(tmp_path), "--config", str(config)])

    figures = json.loads((tmp_path / "summary.json").read_text())["calibration"]
    assert figures["predictions"] == 5
    assert figures["fallback_threshold"] == 0.4
    assert figures["fallback_rate"] == pytest.approx(2 / 5)
    assert figures["confident_wrong_rate"] == pytest.approx(1 / 5)
    assert figures["right_but_below_threshold_rate"] == pytest.approx(1 / 5)
    assert figures["top_two_rate"] is None
    # bins 0.3-0.4: (0.31 wrong, 0.35 right); 0.6-0.7: 0.62 wrong; 0.9-1.0: 0.97, 0.93 right
    expected_ece = (2 * abs(0.5 - 0.33) + 1 * abs(0.0 - 0.62) + 2 * abs(1.0 - 0.95)) / 5
    assert figures["expected_calibration_error"] == pytest.approx(expected_ece)
    assert [b["count"] for b in figures["bins"]] == [0, 0, 0, 2, 0, 0, 1, 0, 0, 2]
    assert (tmp_path / "reliability.png").read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert f"expected calibration error (10 bins): {expected_ece:.3f}" in printed
    assert "fallback (confidence < threshold):  40.0%" in printed
