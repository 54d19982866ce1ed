"""`python -m bench.language_detection`: which language detector, measured on
tests/language/detection_set.yml.

Three detectors, each deciding en / pt / es / none per message:
- lingua alone (EN/PT/ES, confidence floor), on the message without order numbers and links;
- lingua + the team's chat lexicon: threadline.language.detect, the one the NLU uses;
- a character n-gram classifier (TF-IDF 1-4 + logistic regression) trained on data/nlu split
  by the language metadata (en, pt), with the lexicon for short messages and lingua for
  Spanish, which data/nlu has too little of.
For each: accuracy overall, per language and on messages of three words or fewer, and the
wrong switches (a message given a language not its own: the customer is answered in it or
told we do not speak it; a missed language only keeps the current one), and how many
Portuguese messages were read as Spanish or English. `first 400` is the set as first written,
before the detector's catalogue-name and Spanish fixes; the messages after it were written with
those fixes.

Writes results/bench/language_detection.json and prints a table.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import yaml

from threadline.language import lexicon
from threadline.language.detect import LINGUA_LANGUAGES, MIN_CONFIDENCE, SHORT_WORDS, LanguageDetector, words_of
from threadline.nlu.language import shared_detector
from threadline.settings import PROJECT_DIR

SET = PROJECT_DIR / "tests" / "language" / "detection_set.yml"
OUT = PROJECT_DIR / "results" / "bench" / "language_detection.json"
FIRST_WRITTEN = 400  # messages in the set before the detector's fixes of issue #16
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")

Detect = Callable[[str], Optional[str]]


def training_texts() -> Tuple[List[str], List[str]]:
    texts, languages = [], []
    for path in sorted((PROJECT_DIR / "data" / "nlu").rglob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            language = (block.get("metadata") or {}).get("language", "en")
            if "intent" not in block or language not in ("en", "pt"):
                continue
            for line in block["examples"].splitlines():
                text = ANNOTATION.sub(r"\1", line.strip()[2:])
                if text:
                    texts.append(text)
                    languages.append(language)
    return texts, languages


def ngram_detector(lingua: LanguageDetector) -> Detect:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
                               LogisticRegression(C=10, max_iter=1000)).fit(*training_texts())

    def detect(text: str) -> Optional[str]:
        words = [w for w in words_of(text) if lexicon.language_of_word(w) != "none"]
        if not words:
            return None
        votes = {lexicon.language_of_word(w) for w in words} - {None}
        if len(words) <= SHORT_WORDS and len(votes) == 1:
            return votes.pop()
        best = lingua.lingua.compute_language_confidence_values(" ".join(words))[0]
        if LINGUA_LANGUAGES[best.language] == "es" and best.value >= MIN_CONFIDENCE:
            return "es"
        probabilities = classifier.predict_proba([" ".join(words)])[0]
        return str(classifier.classes_[probabilities.argmax()]) if probabilities.max() >= MIN_CONFIDENCE else None

    return detect


def measure(detect: Detect, messages: List[dict]) -> Dict[str, float]:
    hits: Dict[str, List[bool]] = defaultdict(list)
    wrong = 0
    for message in messages:
        expected, got = message["language"], detect(message["text"]) or "none"
        wrong += got not in ("none", expected)
        groups = ["all", expected] + (["short"] if len(message["text"].split()) <= SHORT_WORDS else [])
        for group in groups:
            hits[group].append(got == expected)
    figures = {group: round(sum(h) / len(h), 3) for group, h in sorted(hits.items())}
    figures["wrong_switch"] = round(wrong / len(messages), 4)
    for language in ("es", "en"):
        figures[f"pt_as_{language}"] = sum(m["language"] == "pt" and (detect(m["text"]) or "none") == language
                                           for m in messages)
    return figures


def main() -> None:
    messages = yaml.safe_load(SET.read_text(encoding="utf-8"))["messages"]
    chosen = shared_detector()  # with the catalogue's names, as the NLU has it
    detectors = {"lingua alone": LanguageDetector(use_lexicon=False).detect,
                 "lingua + lexicon (used)": chosen.detect,
                 "n-gram on data/nlu + lexicon + lingua es": ngram_detector(chosen)}
    results = {name: measure(detect, messages) for name, detect in detectors.items()}
    results.update({f"{name}, first {FIRST_WRITTEN}": measure(detect, messages[:FIRST_WRITTEN])
                    for name, detect in detectors.items()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"set": SET.name, "messages": len(messages), "results": results}, indent=2) + "\n")
    columns = list(next(iter(results.values())))
    print(f"{'detector':<53}" + "".join(f"{c:>13}" for c in columns))
    for name, figures in results.items():
        print(f"{name:<53}" + "".join(f"{figures[c]:>13}" for c in columns))


if __name__ == "__main__":
    main()
