"""`make nlu-report`: 5-fold cross-validation of the NLU pipeline, summarised for designers.

Runs `rasa test nlu --cross-validation` (reports and confusion matrix in results/nlu/), then
prints the intent macro-F1, the entity F1 per entity and extractor, and the intent pairs the
model confuses most, and writes the same figures to results/nlu/summary.json. Exits 1 when a
target is missed, so a data change that makes the assistant worse is noticed.

    python -m threadline.nlu.report                       # run CV, then summarise
    python -m threadline.nlu.report --summarise-only results/nlu   # only re-read a run
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Tuple

INTENT_MACRO_F1_TARGET = 0.90
ENTITY_F1_TARGET = 0.90
TARGET_ENTITIES = ("order_id", "email", "phone")
NOT_ENTITY_REPORTS = {"intent_report.json", "response_selection_report.json"}


@dataclass
class Summary:
    intent_macro_f1: float
    intent_weighted_f1: float
    entity_f1: Dict[str, Dict[str, float]]  # entity -> extractor -> F1
    confused_pairs: List[Tuple[str, str, int]]  # (true intent, predicted intent, count)
    worst_intents: List[Tuple[str, float]]
    missed_targets: List[str]


def run_cross_validation(config: str, nlu: str, folds: int, out: Path) -> None:
    command = [
        sys.executable, "-m", "rasa", "test", "nlu", "--nlu", nlu, "--config", config,
        "--cross-validation", "--folds", str(folds), "--out", str(out),
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run(command, env=env, check=True)


def summarise(out: Path, top: int = 10) -> Summary:
    """Read the reports Rasa wrote into `out`."""
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
    return Summary(macro, intents["weighted avg"]["f1-score"], entity_f1, pairs[:top],
                   worst[:top], missed)


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
    lines += ["", "targets: " + ("all met" if not summary.missed_targets
                                 else "MISSED - " + "; ".join(summary.missed_targets))]
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default="results/nlu")
    parser.add_argument("--summarise-only", action="store_true",
                        help="don't run cross-validation, summarise the reports already in --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.summarise_only:
        run_cross_validation(args.config, args.nlu, args.folds, out)
    if not (out / "intent_report.json").is_file():
        raise SystemExit(f"threadline: no intent_report.json in {out}; run without --summarise-only")
    summary = summarise(out)
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    print(render(summary))
    if summary.missed_targets:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
