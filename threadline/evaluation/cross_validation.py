"""Cross-validation of whole NLU pipelines on the same folds, scored as customers meet them.

`rasa test nlu --cross-validation` keeps only the top intent of each message and draws new
folds on every run, so it can neither say whether the right intent was among the two the bot
offers nor compare two pipelines on the same messages. This trains each pipeline on the
training part of each fold (a seeded stratified k-fold of data/nlu), parses every held-out
message through the trained model like the running bot does (Agent.parse_message, fallback and
escalation included), and scores the parses with threadline.evaluation.heldout: accuracy,
fallback, confident-and-wrong and top-two rates, plus intent macro-F1 overall and per language
(intent blocks in data/nlu/pt/ carry `metadata: language: pt`; the rest is English), expected
calibration error of the classifier's top confidence, training time and parse time; and the
same parses' entities, per language and entity (threadline/evaluation/entities.py).
`trained_folds` is the fold loop alone, which threadline/evaluation/entity_report.py reuses to
train only a pipeline's entity components.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from threadline.evaluation.entities import EntityScoring
from threadline.evaluation.entities import markdown_table as entity_table
from threadline.evaluation.heldout import FALLBACK_INTENT, Outcome, fallback_threshold, \
    figures_of, outcome_of
from threadline.nlu.dates import business_today

SPLIT_SEED = 42
DEFAULT_LANGUAGE = "en"


@dataclass
class Parsed:
    """One held-out message of one fold: what the bot did with it."""
    outcome: Outcome
    top_confidence: float  # the classifier's confidence in its first intent (before fallback)


@dataclass
class PipelineScores:
    config: str
    folds_run: int
    folds: int
    messages: int
    macro_f1: float
    macro_f1_by_language: Dict[str, float]
    accuracy: float
    fallback_rate: float
    confident_wrong_rate: float
    top_two_rate: float
    expected_calibration_error: float
    fallback_threshold: float
    train_seconds_median: float
    parse_ms_median: float
    parse_ms_p95: float
    reliability: Any = field(repr=False)  # threadline.nlu.report.Calibration: the bins and ECE
    # threadline.evaluation.entities.EntityScoring.scores(): entity F1 per language and entity
    entities: Dict[str, Any] = field(default_factory=dict)


def language_of(message: Any) -> str:
    metadata = message.get("metadata") or {}
    return ((metadata.get("intent") or {}).get("language")) or DEFAULT_LANGUAGE


def top_confidence(parsed: Dict[str, Any]) -> float:
    ranking = [r for r in parsed.get("intent_ranking") or [] if r["name"] != FALLBACK_INTENT]
    return float(ranking[0]["confidence"]) if ranking else 0.0


def fold_indices(labels: Sequence[str], folds: int) -> List[Any]:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SPLIT_SEED)
    return list(splitter.split(list(labels), list(labels)))


async def _parse_all(model_path: str, messages: Sequence[Any], threshold: float,
                     entities: EntityScoring) -> Tuple[List[Parsed], List[float]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    parsed_messages, seconds = [], []
    for message in messages:
        # The day StructuredEntityExtractor resolves "amanhã" against, for the gold dates too.
        today = business_today()
        started = time.perf_counter()
        parsed = await agent.parse_message(message.get("text"))
        seconds.append(time.perf_counter() - started)
        outcome = outcome_of(message.get("intent"), language_of(message), parsed, threshold)
        parsed_messages.append(Parsed(outcome, top_confidence(parsed)))
        entities.record(language_of(message), message.get("text"), message.get("entities") or [],
                        parsed, today)
    return parsed_messages, seconds


def _macro_f1(parsed: Sequence[Parsed]) -> float:
    truth = [p.outcome.truth for p in parsed]
    predicted = [p.outcome.offered[0] if p.outcome.offered else "" for p in parsed]
    return round(float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro",
                                zero_division=0)), 3)


@dataclass
class FoldModel:
    """One fold's model, trained on the fold's training part, and the fold's held-out part."""
    number: int
    of: int
    model: str  # path of the trained model (valid until the next fold starts)
    held_out: List[Any]  # the held-out messages (Rasa Message objects)
    train_seconds: float


def held_out_examples(nlu: Path) -> Tuple[Any, List[Any]]:
    """The training data and its intent examples, in the order the folds index them."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu))
    return data, [e for e in data.intent_examples if e.get("intent") and e.get("text")]


def trained_folds(config: Path, nlu: Path, folds: int, folds_run: Optional[int] = None
                  ) -> Iterator[FoldModel]:
    """Train `config` on the training part of each seeded fold, one fold at a time; each model
    is deleted when the next is asked for. `folds_run` < `folds` trains only the first folds."""
    from rasa.engine.caching import CACHE_SIZE_ENV
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    with process_settings_restored():
        # Rasa logs every parse with its text at debug level; these logs carry no message bodies.
        configure_logging_and_warnings(logging.WARNING)
        configure_structlog(logging.WARNING)
        # Rasa's training cache would hand a fold the components another run already trained on
        # the same examples: the training times would then measure the cache.
        os.environ[CACHE_SIZE_ENV] = "0"
        yield from _trained_folds(config, nlu, folds, folds_run)


@contextlib.contextmanager
def process_settings_restored() -> Iterator[None]:
    """The environment and log levels as they were, once the folds are done: Rasa's logging set-up
    writes LOG_LEVEL into os.environ and raises the root level, which a caller in the same process
    (the test suite) and every process it starts afterwards would otherwise inherit."""
    environment = dict(os.environ)
    loggers = [logging.root, *(logger for logger in logging.root.manager.loggerDict.values()
                               if isinstance(logger, logging.Logger))]
    levels = [(logger, logger.level) for logger in loggers]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environment)
        for logger, level in levels:
            logger.setLevel(level)


def _trained_folds(config: Path, nlu: Path, folds: int, folds_run: Optional[int]) -> Iterator[FoldModel]:
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data, examples = held_out_examples(nlu)
    splits = fold_indices([e.get("intent") for e in examples], folds)[: folds_run or folds]
    for number, (train_index, test_index) in enumerate(splits, start=1):
        train = TrainingData(training_examples=[examples[i] for i in train_index],
                             entity_synonyms=data.entity_synonyms,
                             regex_features=data.regex_features,
                             lookup_tables=data.lookup_tables)
        with tempfile.TemporaryDirectory(prefix="threadline-cv-") as directory:
            train_file = Path(directory) / "nlu.yml"
            train.persist_nlu(str(train_file))
            started = time.perf_counter()
            model = train_nlu(str(config), str(train_file), directory, fixed_model_name="fold")
            seconds = time.perf_counter() - started
            print(f"{config}: fold {number}/{len(splits)} trained in {seconds:.0f} s",
                  file=sys.stderr, flush=True)
            yield FoldModel(number, len(splits), model, [examples[i] for i in test_index], seconds)


def entity_scoring(config: Path) -> EntityScoring:
    """Entity scoring with `config`'s StructuredEntityExtractor rules (and its catalogue): the
    normal form of the gold values, and the rules scored alone."""
    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.structured_entities import StructuredEntityExtractor

    pipeline = (yaml.safe_load(config.read_text()) or {}).get("pipeline") or []
    settings = next((c for c in pipeline if c.get("name", "").endswith(".StructuredEntityExtractor")),
                    {})
    catalogue = settings.get("catalogue") or StructuredEntityExtractor.get_default_config()["catalogue"]
    return EntityScoring(StructuredEntityExtractor({}, None, None, load_catalogue(Path(catalogue))))


def cross_validate(config: Path, nlu: Path, folds: int, folds_run: Optional[int] = None
                   ) -> PipelineScores:
    """Train `config` on each training part of the seeded folds and score the held-out parts:
    intents as the bot acts on them, and entities (threadline/evaluation/entities.py)."""
    from threadline.nlu.report import Prediction, calibrate

    threshold = fallback_threshold(config)
    entities = entity_scoring(config)
    parsed: List[Parsed] = []
    parse_seconds: List[float] = []
    train_seconds: List[float] = []
    folds_done = 0
    for fold in trained_folds(config, nlu, folds, folds_run):
        fold_parsed, fold_seconds = asyncio.run(
            _parse_all(fold.model, fold.held_out, threshold, entities))
        parsed += fold_parsed
        parse_seconds += fold_seconds
        train_seconds.append(fold.train_seconds)
        folds_done = fold.of

    figures = figures_of(p.outcome for p in parsed)
    languages = sorted({p.outcome.language for p in parsed})
    calibration = calibrate([Prediction(p.outcome.truth, p.outcome.offered[0] if p.outcome.offered
                                        else "", p.top_confidence) for p in parsed], threshold)
    ordered = sorted(parse_seconds)
    return PipelineScores(
        config=str(config), folds_run=folds_done, folds=folds, messages=len(parsed),
        macro_f1=_macro_f1(parsed),
        macro_f1_by_language={lang: _macro_f1([p for p in parsed if p.outcome.language == lang])
                              for lang in languages},
        accuracy=figures.accuracy, fallback_rate=figures.fallback_rate,
        confident_wrong_rate=figures.confident_wrong_rate, top_two_rate=figures.top_two_rate,
        expected_calibration_error=round(calibration.expected_calibration_error, 3),
        fallback_threshold=threshold,
        train_seconds_median=round(statistics.median(train_seconds), 1),
        parse_ms_median=round(1000 * statistics.median(ordered), 1),
        parse_ms_p95=round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        reliability=calibration,
        entities=entities.scores(),
    )


def markdown_table(scores: Sequence[PipelineScores]) -> str:
    """The comparison as a table for docs/designers-guide.md, then each pipeline's entity table."""
    languages = sorted({lang for s in scores for lang in s.macro_f1_by_language})
    header = (["Pipeline", "folds", "macro-F1"] + [f"macro-F1 {lang}" for lang in languages]
              + ["accuracy", "fallback", "confident-wrong", "top-2", "ECE", "threshold",
                 "train s (median)", "parse ms median / p95"])
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in scores:
        cells = ([f"`{s.config}`", f"{s.folds_run} of {s.folds}", f"{s.macro_f1:.3f}"]
                 + [f"{s.macro_f1_by_language.get(lang, float('nan')):.3f}" for lang in languages]
                 + [f"{s.accuracy:.3f}", f"{s.fallback_rate:.1%}", f"{s.confident_wrong_rate:.1%}",
                    f"{s.top_two_rate:.1%}", f"{s.expected_calibration_error:.3f}",
                    f"{s.fallback_threshold:g}", f"{s.train_seconds_median:.0f}",
                    f"{s.parse_ms_median:.1f} / {s.parse_ms_p95:.1f}"])
        rows.append("| " + " | ".join(cells) + " |")
    entities = entity_tables(scores)
    return "\n".join(rows) + ("\n\n" + entities if entities else "")


def entity_tables(scores: Sequence[PipelineScores]) -> str:
    """Each pipeline's entity F1 per language and entity (the bot's entities), for comparison.md."""
    parts = []
    for s in scores:
        if s.entities:
            parts += [f"Entities, `{s.config}` ({s.folds_run} of {s.folds} folds): the bot's entities",
                      "", entity_table(s.entities["bot"]), ""]
    return "\n".join(parts)
