"""Only the entity part of `make nlu-report`: `make nlu-report ENTITIES_ONLY=1`.

The full comparison step trains every pipeline's intent classifier (its calibration and
embedding: minutes per fold) before it can score any entity. The entities come from the
pipeline's tokenizer, featurizers and entity extractors alone, none of which reads an intent, so
this trains only those components of `--config` (the pipeline without its intent classifiers)
on the same seeded folds, parses each held-out message through the trained model like the
running bot, and scores the entities (threadline/evaluation/entities.py): per language and per
entity, exact span + value and value only, the bot's entities and the rules' alone. Writes
results/nlu/entities.json and entities.md and prints the table.

    .venv/bin/python -m threadline.evaluation.entity_report --config config.yml --nlu data/nlu \
        --folds 5 --out results/nlu
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from threadline.evaluation.cross_validation import entity_scoring, language_of, trained_folds
from threadline.evaluation.entities import EntityScoring, markdown_table
from threadline.nlu.dates import business_today

INTENT_CLASSIFIER = "intent_classifier"


def without_intent_classifiers(pipeline: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The components of `pipeline` that are not intent classifiers (as Rasa registered them)."""
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe

    intent = DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER
    return [component for component in pipeline
            if intent not in DefaultV1Recipe._from_registry(component["name"]).types]


def entity_config(config: Path, directory: Path) -> Path:
    """A copy of `config` whose pipeline has no intent classifier, written into `directory`."""
    settings = yaml.safe_load(config.read_text()) or {}
    settings["pipeline"] = without_intent_classifiers(settings.get("pipeline") or [])
    path = directory / f"{config.stem}_entities.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


async def _score_fold(model: str, messages: Sequence[Any], scoring: EntityScoring) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    for message in messages:
        today = business_today()  # the day the rules resolve "amanhã" against
        parsed = await agent.parse_message(message.get("text"))
        scoring.record(language_of(message), message.get("text"), message.get("entities") or [],
                       parsed, today)


def score_entities(config: Path, nlu: Path, folds: int, folds_run: Optional[int]) -> Dict[str, Any]:
    scoring = entity_scoring(config)
    started = time.perf_counter()
    train_seconds = []
    folds_done = 0
    with tempfile.TemporaryDirectory(prefix="threadline-entities-") as directory:
        derived = entity_config(config, Path(directory))
        for fold in trained_folds(derived, nlu, folds, folds_run):
            asyncio.run(_score_fold(fold.model, fold.held_out, scoring))
            train_seconds.append(round(fold.train_seconds, 1))
            folds_done = fold.of
    return {"config": str(config), "pipeline": "without its intent classifiers",
            "folds_run": folds_done, "folds": folds, "train_seconds": train_seconds,
            "wall_seconds": round(time.perf_counter() - started, 1), **scoring.scores()}


def render(report: Dict[str, Any]) -> str:
    messages = ", ".join(f"{lang} {n}" for lang, n in report["bot"]["messages"].items())
    return "\n".join([
        f"Entity F1 on {report['folds_run']} of {report['folds']} seeded folds, `{report['config']}` "
        f"({report['pipeline']}); held-out messages: {messages}; wall time {report['wall_seconds']:.0f} s",
        "", "The bot's entities (the whole pipeline, as the running bot merges them):", "",
        markdown_table(report["bot"]),
        "", "StructuredEntityExtractor alone (rules, same held-out messages):", "",
        markdown_table(report["rules_alone"]), ""])


def main(argv: Optional[List[str]] = None) -> None:
    from threadline.quiet import quiet_library_warnings

    quiet_library_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, default=None, help="run only the first N folds")
    parser.add_argument("--out", default="results/nlu")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = score_entities(Path(args.config), Path(args.nlu), args.folds, args.folds_run)
    (out / "entities.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    text = render(report)
    (out / "entities.md").write_text(text)
    print(text)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
