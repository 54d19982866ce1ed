# Threadline: `make run` starts everything, `make test` checks everything.
# Both set up the environment first when needed. See README.md.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(PY) -m rasa
export RASA_TELEMETRY_ENABLED ?= false
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: setup train run test validate nlu-report test-unit test-stories test-conversations freeze audit clean help texts-catalogue \
        bench-tracker bench-turn-size bench-identity bench-webhooks bench-crm-timeline bench-hostile-mail bench-insights \
        bench-ack-replicas bench-scale

help:
	@echo "make run           set up, train if data changed, start everything (Ctrl-C stops it)"
	@echo "make test          set up, validate data, run every test"
	@echo "make validate      rasa data validate --fail-on-warnings"
	@echo "make test-unit     pytest only"
	@echo "make nlu-report    calibration and fallback threshold, pipelines side by side on 5 folds, F1 and confused intents (results/nlu)"
	@echo "make test-stories  conversation tests only (tests/test_*.yml)"
	@echo "make test-conversations  the conversation corpus (tests/conversations/*.yml) through the real stack (results/conversations.json)"
	@echo "make texts-catalogue  the texts of actions/ and connectors/ into threadline/i18n's pt_BR catalogue, to translate"
	@echo "make bench-tracker per-turn tracker store cost vs history length (results/bench/tracker.*)"
	@echo "make bench-turn-size bytes a turn stores in Redis through Rasa's processor (results/bench/turn_size.json; LABEL=before|after)"
	@echo "make bench-identity identity resolution cost per message (results/bench/identity.*)"
	@echo "make bench-crm-timeline how far the CRM timeline trails the conversation (results/bench/crm_timeline.*)"
	@echo "make bench-webhooks  webhook acknowledgement latency at 200 req/s for 30 s"
	@echo "make bench-ack-replicas  webhook ack latency with THREADLINE_ACK_REPLICAS=0 and =1 on Redis Sentinel (results/bench/ack_replicas.*)"
	@echo "make bench-scale    2 Rasa servers + 2 inbox workers behind HAProxy, Sentinel, PostgreSQL; the Redis primary SIGKILLed mid-load (results/bench/scale.*)"
	@echo "make bench-insights  Insights page data and aggregate update cost at 100k customers / 1M messages (results/bench/insights.*)"
	@echo "make bench-hostile-mail  parse-or-refuse time of 1 MB adversarial mails (results/bench/hostile_mail.*)"
	@echo "make audit         known vulnerabilities in constraints.txt and whether Rasa's pins allow the fix"
	@echo "                   (offline: make audit ADVISORIES=path/to/a/clone/of/pypa/advisory-database)"

setup:
	@bash scripts/setup.sh

train: setup
	@$(PY) -m threadline.training

run: train
	@$(PY) -m threadline.launcher

validate: setup
	$(PY) -m threadline.validation --fail-on-warnings

# Run after changing data/nlu. Three steps (~30 min on 2 free cores): the out-of-fold
# calibration and the fallback threshold it supports; the chosen pipeline and the previous one
# side by side on the same 5 folds (COMPARE= other pipelines/*.yml; FOLDS_RUN=1 for one fold,
# e.g. for DIET); `rasa test nlu` cross-validation of config.yml (entities, confused pairs).
# The comparison also scores entities per language (comparison.md). ENTITIES_ONLY=1 runs only
# that part, for config.yml, training only its entity components (results/nlu/entities.*).
COMPARE ?= pipelines/tfidf_embedding_svm.yml pipelines/tfidf_embedding.yml
nlu-report: setup
ifdef ENTITIES_ONLY
	$(PY) -m threadline.evaluation.entity_report --config config.yml --nlu data/nlu --folds 5 \
	   $(if $(FOLDS_RUN),--folds-run $(FOLDS_RUN)) --out results/nlu
else
	$(PY) -m threadline.nlu.report --config config.yml --nlu data/nlu --thresholds
	$(PY) -m threadline.nlu.report --compare $(COMPARE) --nlu data/nlu --folds 5 \
	   $(if $(FOLDS_RUN),--folds-run $(FOLDS_RUN)) --out results/nlu
	$(PY) -m threadline.nlu.report --config config.yml --nlu data/nlu --folds 5 --out results/nlu
endif

# After adding or changing a customer text in actions/ or connectors/: its msgid joins the pt_BR catalogue
# untranslated (or fuzzy when close to an old one); tests/i18n fails until it is translated.
texts-catalogue: setup
	@pot=$$(mktemp -d)/threadline.pot && \
	$(VENV)/bin/pybabel -q extract -k N_ --add-location=file --sort-by-file --width=100 --project=Threadline \
	    --msgid-bugs-address=team@threadline.example -o $$pot actions connectors && \
	$(VENV)/bin/pybabel -q update -i $$pot -d threadline/i18n/locale -D threadline -l pt_BR --width=100 \
	    --ignore-pot-creation-date

# Two processes (pytest-xdist), each test file whole in one of them, the longest files first
# (slow(minutes=N) marks; tests/support/scheduling.py): files start their own servers on free
# ports; within a process the loaded model and one assistant stack are shared (tests/conftest.py).
PYTEST_WORKERS ?= 2
test-unit: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/conversations

test-stories: train
	$(RASA) test core --stories tests/ --model models/threadline.tar.gz --out results/stories --fail-on-prediction-errors

# The corpus in one process (one stack, a few customers at a time: CORPUS_CONCURRENCY); its own
# target, not part of test-unit, so it runs once and writes results/conversations.json.
test-conversations: train
	$(PY) -m pytest -p no:xdist -p no:cacheprovider tests/conversations

test: validate train test-unit test-stories test-conversations

bench-tracker: setup
	@$(PY) -W ignore -m bench.tracker

bench-turn-size: setup
	@$(PY) -W ignore -m bench.turn_size --label $(or $(LABEL),after)

bench-identity: setup
	@$(PY) -W ignore -m bench.identity

bench-crm-timeline: setup
	@$(PY) -W ignore -m bench.crm_timeline

bench-webhooks: train
	$(PY) -m bench.webhooks

bench-hostile-mail: setup
	@$(PY) -W ignore -m bench.hostile_mail

bench-ack-replicas: setup
	@$(PY) -W ignore -m bench.ack_replicas

bench-scale: train
	@$(PY) -W ignore -m bench.scale

bench-insights: setup
	@nice -n 10 $(PY) -W ignore -m bench.insights $(BENCH_INSIGHTS_ARGS)

# After editing requirements*.txt: refresh the frozen tree in constraints.txt.
freeze: setup
	@{ echo "# Full frozen dependency tree (pip freeze), applied as constraints by scripts/setup.sh."; \
	   echo "# Regenerate after changing requirements*.txt: make freeze"; \
	   $(PY) -m pip freeze | grep -v -E "^(pip|setuptools|wheel)=="; } > constraints.txt

# pip-audit lives in its own virtual environment: installing it into .venv could move Rasa's pins.
AUDIT_VENV := var/audit-venv
PIP_AUDIT_VERSION := 2.10.1
audit: setup
	@test -x $(AUDIT_VENV)/bin/pip-audit || { \
	   "$$($(PY) -c 'import sys; print(sys.base_prefix)')/bin/python3" -m venv $(AUDIT_VENV) && \
	   $(AUDIT_VENV)/bin/pip install -q pip-audit==$(PIP_AUDIT_VERSION); }
	@$(PY) scripts/audit.py --pip-audit $(AUDIT_VENV)/bin/pip-audit --pip $(AUDIT_VENV)/bin/pip --frozen constraints.txt \
	   $(if $(ADVISORIES),--advisories $(ADVISORIES))

clean:
	rm -rf models/*.tar.gz models/*.fingerprint results/stories .pytest_cache
