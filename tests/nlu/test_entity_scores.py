"""Entity F1 per language in `make nlu-report`: what counts as found, and the entity-only run
through real Rasa training and parsing on seeded folds."""
from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import pytest

from threadline.evaluation.cross_validation import PipelineScores, entity_scoring, markdown_table
from threadline.evaluation.entities import MIN_SUPPORT, EntityTally, Mention
from threadline.evaluation.entity_report import main, without_intent_classifiers
from threadline.settings import PROJECT_DIR

# Two of the tests train Rasa NLU models (small data, about half a minute each).
pytestmark = pytest.mark.slow

CONFIG = PROJECT_DIR / "config.yml"
FRIDAY = date(2026, 12, 4)


@pytest.fixture(scope="module")
def scoring():
    return entity_scoring(CONFIG)


def figures(tally: EntityTally, language: str, entity: str) -> dict:
    return tally.scores()["by_language"][language][entity]


def test_gold_values_are_written_the_way_the_bot_receives_the_entity(scoring):
    gold = scoring._gold  # the normal form of config.yml's StructuredEntityExtractor
    text = "o tl48213 chega amanhã? meu zap +55 11 98765-4321, email Ana@Example.com, 2 aurora"
    annotations = [{"entity": entity, "start": text.index(words), "end": text.index(words) + len(words)}
                   for entity, words in [("order_id", "tl48213"), ("date", "amanhã"),
                                         ("phone", "+55 11 98765-4321"), ("email", "Ana@Example.com"),
                                         ("quantity", "2"), ("product", "aurora")]]
    assert [m.value for m in gold.mentions(text, annotations, FRIDAY)] == [
        "TL-48213", "2026-12-05", "+5511987654321", "ana@example.com", "2", "Aurora Desk Lamp"]


def test_a_gold_value_whose_shape_needs_its_context_is_read_in_the_message(scoring):
    text = "novo cep 30140071, pedido 48213"
    annotations = [{"entity": "cep", "start": 9, "end": 17}, {"entity": "order_id", "start": 26, "end": 31}]
    assert [m.value for m in scoring._gold.mentions(text, annotations, FRIDAY)] == ["30140-071", "48213"]


def test_annotated_words_around_one_date_have_that_dates_value(scoring):
    text = "it was my birthday on the 20th, deliver by christmas"
    annotations = [{"entity": "date", "start": 10, "end": 30}, {"entity": "date", "start": 43, "end": 52}]
    assert [m.value for m in scoring._gold.mentions(text, annotations, FRIDAY)] == ["2026-12-20", "christmas"]


def test_exact_needs_span_and_value_value_only_needs_the_value():
    tally = EntityTally()
    gold = [Mention("date", 10, 16, "2026-12-15"), Mention("order_id", 0, 8, "TL-48213")]
    # The date found without "dia " (same value, other span); the order with a wrong value.
    found = [Mention("date", 14, 16, "2026-12-15"), Mention("order_id", 0, 8, "TL-4821")]
    tally.add("pt", "TL-48213, dia 15", gold, found)
    tally.add("en", "x", [Mention("date", 0, 1, "2026-12-05")], [])
    date_pt = figures(tally, "pt", "date")
    assert (date_pt["exact_f1"], date_pt["value_f1"]) == (0.0, 1.0)
    order_pt = figures(tally, "pt", "order_id")
    assert (order_pt["exact_f1"], order_pt["value_f1"], order_pt["support"]) == (0.0, 0.0, 1)
    assert figures(tally, "en", "date")["exact_recall"] == 0.0
    both = figures(tally, "all", "date")
    assert (both["support"], both["predicted"], both["value_recall"]) == (2, 1, 0.5)
    mistakes = tally.scores()["mistakes"]["pt"]["order_id"]
    assert {"text": "TL-48213, dia 15", "spurious": "TL-48213", "value": "TL-4821"} in mistakes


def test_too_few_or_no_examples_are_said_not_hidden():
    tally = EntityTally()
    tally.add("en", "call me", [], [Mention("cpf", 0, 4, "***.456.789-**")])
    tally.add("pt", "cep 01310-100", [Mention("cep", 4, 13, "01310-100")], [Mention("cep", 4, 13, "01310-100")])
    cpf_en = figures(tally, "en", "cpf")
    assert cpf_en["exact_f1"] is None and not cpf_en["measurable"]
    assert cpf_en["note"] == "no annotated examples: cannot be measured; 1 found where none is annotated"
    cep_pt = figures(tally, "pt", "cep")
    assert cep_pt["exact_f1"] == 1.0 and not cep_pt["measurable"]
    assert cep_pt["note"] == f"too few to measure: 1 annotated (< {MIN_SUPPORT})"
    # Every entity issue #16 names has a row, found or not.
    assert {"order_id", "email", "phone", "cep", "cpf", "date"} <= set(tally.scores()["by_language"]["pt"])


def test_the_comparison_markdown_carries_each_pipelines_entity_table():
    tally = EntityTally()
    tally.add("pt", "pedido TL-48213", [Mention("order_id", 7, 15, "TL-48213")], [Mention("order_id", 7, 15, "TL-48213")])
    scores = PipelineScores(config="pipelines/x.yml", folds_run=5, folds=5, messages=1, macro_f1=1.0,
                            macro_f1_by_language={"pt": 1.0}, accuracy=1.0, fallback_rate=0.0,
                            confident_wrong_rate=0.0, top_two_rate=1.0, expected_calibration_error=0.0,
                            fallback_threshold=0.67, train_seconds_median=1.0, parse_ms_median=1.0,
                            parse_ms_p95=1.0, reliability=None,
                            entities={"bot": tally.scores(), "rules_alone": tally.scores()})
    table = markdown_table([scores])
    assert "Entities, `pipelines/x.yml` (5 of 5 folds)" in table
    assert ("| order_id | pt | 1 | 1 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | too few to measure: 1 "
            "annotated (< 20) |") in table


def test_the_entity_run_trains_config_yml_without_its_intent_classifiers():
    import yaml

    pipeline = yaml.safe_load(CONFIG.read_text())["pipeline"]
    kept = [c["name"] for c in without_intent_classifiers(pipeline)]
    assert "CRFEntityExtractor" in kept
    assert "threadline.nlu.structured_entities.StructuredEntityExtractor" in kept
    assert not {"threadline.nlu.tfidf_intent_classifier.TfidfIntentClassifier", "FallbackClassifier",
                "threadline.nlu.escalation.EscalationDetector"} & set(kept)


def in_child_process(function, *args, **kwargs):
    """Rasa's training, in a process of its own: it changes process-wide state (logging set-up,
    caches) that later tests on this pytest worker would otherwise inherit."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args, **kwargs).result()


# Our own words: every annotated entity has a shape the rules know, so the bot must find each.
SMALL_NLU = """version: "3.1"
nlu:
- intent: track_order
  examples: |
    - where is order [TL-48213](order_id)?
    - any news on [TL-50321](order_id)
    - track [TL-77120](order_id) please
    - my parcel [TL-61200](order_id) has not arrived
    - status of [TL-99031](order_id)
    - is [TL-33417](order_id) on its way
- intent: track_order
  metadata:
    language: pt
  examples: |
    - cadê meu pedido [TL-48213](order_id)?
    - o [TL-50321](order_id) já saiu?
    - quero rastrear o [TL-77120](order_id)
    - meu pacote [TL-61200](order_id) não chegou
    - status do [TL-99031](order_id) por favor
    - o [TL-33417](order_id) tá a caminho?
- intent: give_contact
  examples: |
    - my email is [ana.souza@example.com](email)
    - write to [bruno@example.org](email)
    - call me on [+1 415 555 0134](phone)
    - my number is [(415) 555-0198](phone)
    - reach me at [carla@example.net](email)
    - phone [+44 20 7946 0958](phone)
- intent: give_contact
  metadata:
    language: pt
  examples: |
    - meu email é [ana.souza@example.com](email)
    - escreve pra [bruno@example.org](email)
    - me liga no [(11) 98765-4321](phone)
    - meu zap é [+55 21 91234-5678](phone)
    - pode mandar pra [carla@example.net](email)
    - whats [(31) 99876-5432](phone)
- intent: reschedule
  examples: |
    - can you deliver it [tomorrow](date)
    - I'd rather get it [next friday](date)
    - deliver on [december 15](date) please
    - change the delivery to [monday](date)
    - bring it [the day after tomorrow](date)
    - [tuesday](date) works better
- intent: reschedule
  metadata:
    language: pt
  examples: |
    - pode entregar [amanhã](date)?
    - prefiro receber [sexta que vem](date)
    - entrega no [dia 15](date) por favor
    - muda a entrega pra [segunda](date)
    - traz [depois de amanhã](date)
    - [terça](date) é melhor pra mim
"""


def test_the_entity_run_scores_each_language_on_the_held_out_fold(tmp_path):
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(SMALL_NLU)
    in_child_process(main, ["--config", str(CONFIG), "--nlu", str(nlu), "--folds", "2", "--folds-run", "1",
                            "--out", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "entities.json").read_text())
    assert (report["folds_run"], report["folds"]) == (1, 2)
    messages = report["bot"]["messages"]
    assert sum(messages.values()) == 18 and messages["en"] and messages["pt"]  # half held out
    bot = report["bot"]["by_language"]
    for entity in ("order_id", "email", "phone", "date"):
        assert bot["all"][entity]["support"] >= 2, entity  # this seed's fold holds some of each
        for language in ("en", "pt"):
            cell = bot[language][entity]
            if cell["support"]:
                assert (cell["exact_recall"], cell["value_recall"]) == (1.0, 1.0), (language, entity, cell)
        assert bot[language]["cpf"]["note"].startswith("no annotated examples")
        assert bot[language]["cep"]["support"] == 0
    # The rules alone are scored on the same held-out messages.
    assert report["rules_alone"]["by_language"]["pt"]["date"]["support"] == bot["pt"]["date"]["support"]
    markdown = (tmp_path / "out" / "entities.md").read_text()
    assert "| date | pt |" in markdown and "StructuredEntityExtractor alone" in markdown


def test_the_entity_run_finds_the_entities_the_whole_pipeline_finds(tmp_path):
    """ENTITIES_ONLY=1 leaves the intent classifiers out: the entities must not change."""
    from threadline.evaluation.cross_validation import cross_validate
    from threadline.evaluation.entity_report import score_entities

    nlu = tmp_path / "nlu.yml"
    nlu.write_text(SMALL_NLU)
    whole = in_child_process(cross_validate, CONFIG, nlu, folds=2, folds_run=1)
    alone = in_child_process(score_entities, CONFIG, nlu, folds=2, folds_run=1)
    assert whole.messages == 18 and whole.entities["bot"]["by_language"]["all"]["order_id"]["support"]
    assert whole.entities["bot"] == alone["bot"]
