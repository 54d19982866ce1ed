"""`make nlu-report`: 5-fold cross-validation of the NLU pipeline, summarised for designers.

Runs `rasa test nlu --cross-validation --successes` (reports and confusion matrix in
results/nlu/), then prints the intent macro-F1, the entity F1 per entity and extractor, the
intent pairs the model confuses most, and how far the intent confidence can be trusted: the
expected calibration error, the fallback rate at config.yml's FallbackClassifier threshold and
the confident-and-wrong rate, read from every held-out prediction (intent_errors.json plus
intent_successes.json). Writes the same figures to results/nlu/summary.json and draws the
reliability diagram results/nlu/reliability.png. Exits 1 when a target is missed, so a data
change that makes the assistant worse is noticed.

    python -m threadline.nlu.report                       # run CV, then summarise
    python -m threadline.nlu.report --summarise-only --out results/nlu   # only re-read a run
    python -m threadline.nlu.report --compare config.yml pipelines/tfidf_logreg_crf_rules.yml

`--compare` trains each named pipeline on the same seeded folds and prints them side by side
(threadline/evaluation/cross_validation.py): macro-F1 overall and per language, fallback,
confident-and-wrong and top-two rates, ECE, training and parse time; it writes
results/nlu/comparison.json and .md and one reliability diagram per pipeline
(reliability_<pipeline>.png). `--folds-run 1` trains only the first fold (for DIET).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

INTENT_MACRO_F1_TARGET = 0.90
ENTITY_F1_TARGET = 0.90
TARGET_ENTITIES = ("order_id", "email", "phone")
NOT_ENTITY_REPORTS = {"intent_report.json", "response_selection_report.json"}
CALIBRATION_BINS = 10
# Rasa's default, used when config.yml's FallbackClassifier sets no threshold.
DEFAULT_FALLBACK_THRESHOLD = 0.3
PREDICTION_FILES = ("intent_errors.json", "intent_successes.json")
RELIABILITY_PLOT = "reliability.png"
# The FallbackClassifier's ambiguity rule (top two closer than ambiguity_threshold) needs the
# second intent's confidence, which the prediction files lack too.
NO_RANKING_NOTE = ("rasa test nlu writes only the top intent per message: the top-two rate and "
                   "the ambiguity fallback cannot be computed from its files; top-one accuracy "
                   "is a lower bound for the top-two rate")


@dataclass(frozen=True)
class Prediction:
    """One held-out message as Rasa's evaluation saw it (the fallback already undone)."""
    target: str
    predicted: str
    confidence: float

    @property
    def correct(self) -> bool:
        return self.target == self.predicted


@dataclass(frozen=True)
class ConfidenceBin:
    """Predictions whose confidence lies in [lower, upper) (the last bin includes 1.0)."""
    lower: float
    upper: float
    count: int
    accuracy: Optional[float]  # None for an empty bin
    mean_confidence: Optional[float]


@dataclass
class Calibration:
    predictions: int
    accuracy: float
    expected_calibration_error: float
    fallback_threshold: float
    fallback_rate: float  # confidence below the threshold: the bot asks instead of answering
    confident_wrong_rate: float  # wrong and at or above the threshold: a wrong answer is given
    right_but_below_threshold_rate: float  # right intent first, but the bot still asks
    top_two_rate: Optional[float]
    note: str
    bins: List[ConfidenceBin]


@dataclass
class Summary:
    intent_macro_f1: float
    intent_weighted_f1: float
    entity_f1: Dict[str, Dict[str, float]]  # entity -> extractor -> F1
    confused_pairs: List[Tuple[str, str, int]]  # (true intent, predicted intent, count)
    worst_intents: List[Tuple[str, float]]
    missed_targets: List[str]
    calibration: Optional[Calibration] = None


def run_cross_validation(config: str, nlu: str, folds: int, out: Path) -> None:
    command = [
        sys.executable, "-m", "rasa", "test", "nlu", "--nlu", nlu, "--config", config,
        "--cross-validation", "--folds", str(folds), "--out", str(out),
        # Correct predictions too (intent_successes.json): calibration needs every prediction.
        "--successes",
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run(command, env=env, check=True)


def confidence_bins(predictions: Sequence[Prediction],
                    count: int = CALIBRATION_BINS) -> List[ConfidenceBin]:
    """Equal-width confidence bins over [0, 1], with each bin's accuracy and mean confidence."""
    members: List[List[Prediction]] = [[] for _ in range(count)]
    for prediction in predictions:
        index = min(max(int(prediction.confidence * count), 0), count - 1)
        members[index].append(prediction)
    bins = []
    for index, inside in enumerate(members):
        accuracy = sum(p.correct for p in inside) / len(inside) if inside else None
        confidence = sum(p.confidence for p in inside) / len(inside) if inside else None
        bins.append(ConfidenceBin(index / count, (index + 1) / count, len(inside), accuracy,
                                  confidence))
    return bins


def expected_calibration_error(bins: Sequence[ConfidenceBin]) -> float:
    """Mean |accuracy - confidence| over the bins, each weighted by its share of predictions."""
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return sum(b.count / total * abs(b.accuracy - b.mean_confidence)
               for b in bins if b.count)


def calibrate(predictions: Sequence[Prediction], threshold: float) -> Calibration:
    """What a customer meets at `threshold`: answers, questions back and wrong answers."""
    total = len(predictions)
    if not total:
        raise ValueError("no predictions to calibrate")
    bins = confidence_bins(predictions)
    below = [p for p in predictions if p.confidence < threshold]
    return Calibration(
        predictions=total,
        accuracy=sum(p.correct for p in predictions) / total,
        expected_calibration_error=expected_calibration_error(bins),
        fallback_threshold=threshold,
        fallback_rate=len(below) / total,
        confident_wrong_rate=sum(not p.correct and p.confidence >= threshold
                                 for p in predictions) / total,
        right_but_below_threshold_rate=sum(p.correct for p in below) / total,
        top_two_rate=None,
        note=NO_RANKING_NOTE,
        bins=bins,
    )


def read_predictions(out: Path) -> List[Prediction]:
    """Every held-out prediction in `out`: the errors and the successes `rasa test nlu` wrote."""
    predictions = []
    for name in PREDICTION_FILES:
        path = out / name
        if not path.is_file():
            continue
        for entry in json.loads(path.read_text()):
            predicted = entry.get("intent_prediction") or {}
            predictions.append(Prediction(entry.get("intent") or "", predicted.get("name") or "",
                                          float(predicted.get("confidence") or 0.0)))
    return predictions


def fallback_threshold(config: Path) -> float:
    """The FallbackClassifier threshold of the pipeline in `config` (Rasa's default if unset)."""
    if not config.is_file():
        raise SystemExit(f"threadline: no pipeline config at {config}; pass --config")
    pipeline = (yaml.safe_load(config.read_text()) or {}).get("pipeline") or []
    for component in pipeline:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", DEFAULT_FALLBACK_THRESHOLD))
    raise SystemExit(f"threadline: {config} has no FallbackClassifier; no threshold to report")


def draw_reliability_diagram(calibration: Calibration, path: Path) -> None:
    """Accuracy per confidence bin against the diagonal of perfect calibration, with counts."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 5.6))
    width = 1 / len(calibration.bins)
    filled = [b for b in calibration.bins if b.count]
    axes.bar([b.lower for b in filled], [b.accuracy for b in filled], width=width, align="edge",
             edgecolor="black", color="tab:blue", alpha=0.75, label="accuracy in bin")
    axes.plot([b.mean_confidence for b in filled], [b.accuracy for b in filled], "o",
              color="black", markersize=3, label="mean confidence in bin")
    for b in filled:
        axes.annotate(f"n={b.count}", (b.lower + width / 2, b.accuracy), ha="center",
                      va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    axes.axvline(calibration.fallback_threshold, color="tab:red", linestyle=":",
                 label=f"fallback threshold {calibration.fallback_threshold:g}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.08)
    axes.set_xlabel("intent confidence")
    axes.set_ylabel("share of messages whose intent was right")
    axes.set_title(f"Intent reliability, cross-validation ({calibration.predictions} messages)\n"
                   f"ECE {calibration.expected_calibration_error:.3f}")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def summarise(out: Path, top: int = 10, config: Optional[Path] = None) -> Summary:
    """Read the reports Rasa wrote into `out`; with `config`, also the confidence figures."""
    intents = json.loads((out / "intent_report.json").read_text())
    per_intent = {k: v for k, v in intents.items() if isinstance(v, dict) and "f1-score" in v
                  and k not in ("macro avg", "weighted avg", "micro avg")}
    pairs = [
        (intent, other, count)
        for intent, scores in per_intent.items()
        for other, count in scores.get("confused_with", {}).items()
    ]
    pairs.sort(key=lambda pair: (-pair[2], pair[0], pair[1]))
    worst = sorted(((k, v["f1-score"]) for k, v in per_intent.items()), key=lambda kv: kv[1])

    entity_f1: Dict[str, Dict[str, float]] = {}
    for report in sorted(out.glob("*_report.json")):
        if report.name in NOT_ENTITY_REPORTS:
            continue
        extractor = report.name[: -len("_report.json")]
        for entity, scores in json.loads(report.read_text()).items():
            if isinstance(scores, dict) and "f1-score" in scores and scores.get("support", 0) \
                    and not entity.endswith(" avg"):
                entity_f1.setdefault(entity, {})[extractor] = scores["f1-score"]

    macro = intents["macro avg"]["f1-score"]
    missed = []
    if macro < INTENT_MACRO_F1_TARGET:
        missed.append(f"intent macro-F1 {macro:.3f} < {INTENT_MACRO_F1_TARGET}")
    for entity in TARGET_ENTITIES:
        best = max(entity_f1.get(entity, {}).values(), default=0.0)
        if best < ENTITY_F1_TARGET:
            missed.append(f"{entity} F1 {best:.3f} < {ENTITY_F1_TARGET}")
    calibration = None
    predictions = read_predictions(out)
    if config is not None and predictions:
        calibration = calibrate(predictions, fallback_threshold(config))
    return Summary(macro, intents["weighted avg"]["f1-score"], entity_f1, pairs[:top],
                   worst[:top], missed, calibration)


def render_calibration(calibration: Optional[Calibration]) -> List[str]:
    if calibration is None:
        return ["confidence: no intent_errors.json / intent_successes.json to read"]
    c = calibration
    lines = [
        f"confidence over {c.predictions} held-out predictions (threshold {c.fallback_threshold:g}):",
        f"  expected calibration error ({CALIBRATION_BINS} bins): {c.expected_calibration_error:.3f}",
        f"  accuracy (top intent right):        {c.accuracy:.1%}",
        f"  fallback (confidence < threshold):  {c.fallback_rate:.1%}"
        f"  (of which the top intent was right: {c.right_but_below_threshold_rate:.1%})",
        f"  confident and wrong:                {c.confident_wrong_rate:.1%}",
        "  right intent in the top two:        "
        + ("n/a" if c.top_two_rate is None else f"{c.top_two_rate:.1%}"),
        f"  note: {c.note}",
        "  confidence bin   count  accuracy  mean confidence",
    ]
    lines += [f"  {b.lower:.1f}-{b.upper:.1f}      {b.count:6d}  "
              + ("     -        -" if not b.count
                 else f"{b.accuracy:8.3f}  {b.mean_confidence:15.3f}")
              for b in c.bins]
    return lines


def render(summary: Summary) -> str:
    lines = [
        f"intent macro-F1: {summary.intent_macro_f1:.3f}  (weighted {summary.intent_weighted_f1:.3f};"
        f" target {INTENT_MACRO_F1_TARGET})",
        "",
        "entity F1 by extractor (the bot uses both; rules win where they overlap):",
    ]
    extractors = sorted({x for scores in summary.entity_f1.values() for x in scores})
    lines.append("  " + "entity".ljust(12) + "".join(x[:28].rjust(30) for x in extractors))
    for entity in sorted(summary.entity_f1):
        cells = (summary.entity_f1[entity].get(x) for x in extractors)
        lines.append("  " + entity.ljust(12) + "".join(
            ("-" if c is None else f"{c:.3f}").rjust(30) for c in cells))
    lines += ["", "most confused intent pairs (true -> predicted: count):"]
    lines += [f"  {a} -> {b}: {n}" for a, b, n in summary.confused_pairs] or ["  none"]
    lines += ["", "lowest intent F1:"]
    lines += [f"  {name}: {f1:.3f}" for name, f1 in summary.worst_intents]
    lines += [""] + render_calibration(summary.calibration)
    lines += ["", "targets: " + ("all met" if not summary.missed_targets
                                 else "MISSED - " + "; ".join(summary.missed_targets))]
    return "\n".join(lines)


THRESHOLD_TARGETS = (0.95, 0.97, 0.98)


def render_thresholds(config: Path, nlu: Path) -> str:
    """How config.yml's fallback threshold is chosen: TfidfIntentClassifier's out-of-fold
    calibration of the training data (as at train time), and per target accuracy of the answers
    above the threshold, the threshold and what it does to those out-of-fold predictions."""
    import numpy as np
    from rasa.shared.nlu.training_data.loading import load_data

    from threadline.nlu import calibration as c
    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    name = "threadline.nlu.tfidf_intent_classifier.TfidfIntentClassifier"
    pipeline = (yaml.safe_load(config.read_text()) or {}).get("pipeline") or []
    settings = next((component for component in pipeline if component.get("name") == name), None)
    if settings is None:
        raise SystemExit(f"threadline: {config} has no TfidfIntentClassifier")
    settings = {**TfidfIntentClassifier.get_default_config(), **settings}
    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("intent") and e.get("text")]
    catalogue = load_catalogue(Path(settings["catalogue"]))
    scores, truth = c.out_of_fold_scores(lambda: build_pipeline(settings, catalogue),
                                         [e.get("text") for e in examples],
                                         [e.get("intent") for e in examples],
                                         max(2, settings["calibration_folds"]))
    temperature = c.fit_temperature(scores, truth)
    before, after = c.softmax(scores), c.softmax(scores / temperature)
    correct = before.argmax(axis=1) == truth
    lines = [f"out-of-fold calibration of {len(truth)} training examples "
             f"({max(2, settings['calibration_folds'])} folds): temperature {temperature:.3f}, "
             f"accuracy {correct.mean():.3f}",
             f"  log-loss {c.negative_log_likelihood(scores, truth, 1.0):.3f} -> "
             f"{c.negative_log_likelihood(scores, truth, temperature):.3f}; ECE "
             f"{c.top_confidence_ece(before.max(axis=1), correct):.3f} -> "
             f"{c.top_confidence_ece(after.max(axis=1), correct):.3f}",
             f"  config.yml threshold now: {fallback_threshold(config):g}",
             "  answers >= target right   threshold   fallback   confident-wrong"]
    for target in THRESHOLD_TARGETS:
        threshold = c.suggested_threshold(after.max(axis=1), correct, target)
        answered = after.max(axis=1) >= threshold
        lines.append(f"  {target:>24.0%}   {threshold:9.2f}   {1 - answered.mean():8.1%}   "
                     f"{np.mean(answered & ~correct):15.1%}")
    return "\n".join(lines)


def compare(configs: Sequence[Path], nlu: Path, folds: int, folds_run: Optional[int],
            out: Path) -> None:
    """Cross-validate each pipeline on the same folds; table, JSON and reliability diagrams."""
    from threadline.evaluation.cross_validation import cross_validate, markdown_table

    out.mkdir(parents=True, exist_ok=True)
    scores = []
    for config in configs:
        result = cross_validate(config, nlu, folds, folds_run)
        draw_reliability_diagram(result.reliability, out / f"reliability_{config.stem}.png")
        scores.append(result)
        # Written after each pipeline, so a slow one that is stopped keeps the others' figures.
        (out / "comparison.json").write_text(json.dumps([asdict(s) for s in scores], indent=2))
        (out / "comparison.md").write_text(markdown_table(scores) + "\n")
    print(markdown_table(scores))


def main(argv: List[str] | None = None) -> None:
    from threadline.quiet import quiet_library_warnings

    quiet_library_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default="results/nlu")
    parser.add_argument("--summarise-only", action="store_true",
                        help="don't run cross-validation, summarise the reports already in --out")
    parser.add_argument("--compare", nargs="+", metavar="CONFIG",
                        help="cross-validate these pipelines on the same folds, side by side")
    parser.add_argument("--folds-run", type=int, default=None,
                        help="with --compare: run only the first N of the folds")
    parser.add_argument("--thresholds", action="store_true",
                        help="print the intent classifier's out-of-fold calibration on --nlu and "
                             "the fallback threshold each target accuracy gives")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.thresholds:
        print(render_thresholds(Path(args.config), Path(args.nlu)))
        return
    if args.compare:
        compare([Path(c) for c in args.compare], Path(args.nlu), args.folds, args.folds_run, out)
        return
    if not args.summarise_only:
        run_cross_validation(args.config, args.nlu, args.folds, out)
    if not (out / "intent_report.json").is_file():
        raise SystemExit(f"threadline: no intent_report.json in {out}; run without --summarise-only")
    summary = summarise(out, config=Path(args.config))
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    if summary.calibration is not None:
        draw_reliability_diagram(summary.calibration, out / RELIABILITY_PLOT)
    print(render(summary))
    if summary.missed_targets:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
