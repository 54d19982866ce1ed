"""The nlu-report summary: figures and confused pairs read from Rasa's report files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.nlu.report import main, render, summarise


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
