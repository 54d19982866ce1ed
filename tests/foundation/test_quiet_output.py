"""A first run a person can read (issue #22): `make run`'s launcher prints only our own lines
and a banner that says what to do next; library warnings are hidden unless
THREADLINE_LOG_LEVEL=debug, ours never are; a service that fails to start is named with the
end of its log; training says which stage it is at; `make validate` counts what forms and
custom actions use."""
from __future__ import annotations

import re
import signal
import sys
import warnings

import pytest

from tests.support.launcher_run import LauncherRun, clean_env, free_port_pair
from tests.support.redis_server import free_port
from threadline.launcher import Launcher, LaunchError, Service
from threadline.quiet import is_ours, quiet_library_warnings
from threadline.settings import PROJECT_DIR, Settings
from threadline.training import TrainingProgress, model_path

LIBRARY_NOISE = re.compile(r"Warning\b|site-packages|<frozen |Traceback")
BANNER = ("Threadline is up:", "  Rasa server   http://127.0.0.1:", "  Console       http://127.0.0.1:",
          "  Simulator     http://127.0.0.1:", "  Logs          ", "  First login   bin/threadline agent add NAME",
          "  Stop          Ctrl-C", "Press Ctrl-C to stop everything.")
SERVICES = ("redis", "sandbox provider", "action server", "rasa server", "inbox worker", "crm timeline",
            "follow-ups", "agent console")


@pytest.mark.slow
def test_make_run_prints_no_library_warning_and_a_banner_that_says_what_to_do(tmp_path):
    assert model_path().is_file(), "train first: make train"
    env = clean_env(
        tmp_path, RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()), THREADLINE_REDIS_PORT=str(free_port()),
        THREADLINE_SANDBOX_PORT=str(free_port()), CONSOLE_PORT=str(free_port()),
        THREADLINE_INBOX_WORKER_PORT=str(free_port_pair()), CRM_TIMELINE_PORT=str(free_port()),
        FOLLOWUPS_PORT=str(free_port()),
    )
    run = LauncherRun(env)
    try:
        banner_end = run.wait_for_line("Press Ctrl-C to stop everything.", 300)
        output = run.lines[:banner_end + 1]
        assert [line for line in output if LIBRARY_NOISE.search(line)] == []
        for start in BANNER:
            assert any(line.startswith(start) for line in output), f"no banner line {start!r}:\n{''.join(output)}"
        # Each service says when it is up and how long it took; its whole output is in its log.
        for name in SERVICES:
            assert any(re.match(rf"threadline: \[\d/8\] {name} is up \(\d+\.\d+s\)$", line) for line in output), name
        log_dir = tmp_path / "var" / "log"
        assert any(f"(logs in {log_dir})" in line for line in output)
        assert "Rasa server is up and running" in (log_dir / "rasa-server.log").read_text()
        assert (log_dir / "agent-console.log").is_file() and (log_dir / "inbox-worker.log").is_file()
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=60) == 0
    finally:
        run.close()


def test_a_service_that_fails_to_start_is_named_with_the_end_of_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("THREADLINE_VAR_DIR", str(tmp_path))
    launcher = Launcher(Settings.from_env())
    failing = "print('loading the model'); print('port 5005 already in use'); raise SystemExit(3)"
    launcher.services = [Service("rasa server", [sys.executable, "-c", failing], lambda: False,
                                 log_file=tmp_path / "log" / "rasa-server.log")]
    with pytest.raises(LaunchError) as failed:
        launcher.start_all({"PATH": "/usr/bin:/bin"})
    message = str(failed.value)
    assert message.startswith("rasa server exited during start-up (exit 3); last lines of ")
    assert message.endswith("  | loading the model\n  | port 5005 already in use")


def test_library_warnings_are_hidden_and_ours_are_kept(monkeypatch):
    monkeypatch.delenv("THREADLINE_LOG_LEVEL", raising=False)
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, filename, *_: shown.append((category, filename))
        quiet_library_warnings()
        library = str(PROJECT_DIR / ".venv" / "lib" / "python3.10" / "site-packages" / "rasa" / "core.py")
        ours = str(PROJECT_DIR / "threadline" / "launcher.py")
        warnings.warn_explicit("deprecated", DeprecationWarning, library, 1)
        warnings.warn_explicit("the utterance is not used", UserWarning, library, 2)
        warnings.warn_explicit("<frozen> load_module", DeprecationWarning, "<frozen importlib._bootstrap>", 3)
        warnings.warn_explicit("a real problem of ours", UserWarning, ours, 4)
    assert shown == [(UserWarning, ours)]


def test_threadline_log_level_debug_brings_library_warnings_back(monkeypatch):
    monkeypatch.setenv("THREADLINE_LOG_LEVEL", "debug")
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, filename, *_: shown.append(category)
        quiet_library_warnings()
        warnings.warn_explicit("deprecated", DeprecationWarning, "/usr/lib/python3/dist-packages/x.py", 1)
    assert shown == [DeprecationWarning]


@pytest.mark.parametrize("level, noisy", [("", False), ("debug", True)])
def test_tensorflows_own_log_lines_are_hidden_unless_debug(level, noisy, tmp_path):
    """TensorFlow's C++ start-up lines (no GPU, CPU instructions) reach the terminal of every
    entry point that loads Rasa's NLU or policies unless quiet_library_warnings() set them off."""
    import subprocess

    env = clean_env(tmp_path, THREADLINE_LOG_LEVEL=level)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = "from threadline.quiet import quiet_library_warnings; quiet_library_warnings(); import tensorflow"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, timeout=300, check=True)
    assert bool(re.search(r"cuda|cpu_feature_guard|TensorRT", result.stderr)) is noisy, result.stderr[-2000:]


def test_only_the_project_code_is_ours():
    assert is_ours(str(PROJECT_DIR / "connectors" / "webhook" / "channel.py"))
    assert is_ours(str(PROJECT_DIR / "actions" / "clarify.py"))
    assert not is_ours(str(PROJECT_DIR / ".venv" / "lib" / "python3.10" / "site-packages" / "sanic" / "app.py"))
    assert not is_ours("/usr/lib/python3.10/random.py")
    assert not is_ours("<frozen importlib._bootstrap>")


def test_training_progress_names_each_component_its_steps_and_the_epochs_by_quarter():
    progress = TrainingProgress()
    output = [
        "2026-12-01 16:00:00 INFO     rasa.engine.training.hooks  - Starting to train component 'CRFEntityExtractor'.",
        "/site-packages/x.py:1: DeprecationWarning: noise",
        "2026-12-01 16:00:04 INFO     threadline.nlu.calibration  - Training step: calibration fold 2 of 5\n",
        "2026-12-01 16:00:09 INFO     rasa.engine.training.hooks  - Starting to train component 'TEDPolicy'.",
        "Epochs:   3%|▎         | 3/100 [00:01<00:40,  2.40it/s, t_loss=9.1]\r",
        "Epochs:  26%|██▌       | 26/100 [00:10<00:30,  2.40it/s, t_loss=4.2]\r",
        "Epochs:  27%|██▋       | 27/100 [00:11<00:30,  2.40it/s, t_loss=4.1]\r",
        "Epochs: 100%|██████████| 100/100 [00:41<00:00,  2.40it/s, t_loss=1.0]\n",
    ]
    lines = [line for line in map(progress.line_for, output) if line]
    assert [re.sub(r" \(\d+s\)$", "", line) for line in lines] == [
        "threadline: training: component 1, CRFEntityExtractor",
        "threadline: training: CRFEntityExtractor, calibration fold 2 of 5",
        "threadline: training: component 2, TEDPolicy",
        "threadline: training: TEDPolicy epochs 26%",
        "threadline: training: TEDPolicy epochs 100%",
    ]


DOMAIN = """
version: "3.1"
intents: [greet]
slots:
  email: {type: text, mappings: [{type: from_text}]}
forms:
  contact_form: {required_slots: [email]}
responses:
  utter_greet: [{text: "hi"}]
  utter_ask_email: [{text: "your email?"}]
  utter_handoff: [{text: "a person is coming"}]
  utter_intent_label_order_status: [{text: "an order"}]
  utter_forgotten: [{text: "nobody says this"}]
"""
RULES = """
version: "3.1"
rules:
  - rule: greet
    steps: [{intent: greet}, {action: utter_greet}]
"""


def test_validation_counts_forms_and_custom_actions_and_fails_on_a_response_nothing_uses():
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.core.training_data.structures import StoryGraph
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from threadline.validation import project_validator

    domain = Domain.from_yaml(DOMAIN)
    stories = StoryGraph(YAMLStoryReader(domain).read_from_string(RULES))
    validator = project_validator()(domain, TrainingData(), stories, None)
    with pytest.warns(UserWarning) as warned:
        assert validator.verify_utterances_in_stories(ignore_warnings=False) is False
    # utter_ask_email: the form asks it; utter_handoff: actions/handoff.py sends it;
    # utter_intent_label_order_status: actions/clarify.py builds it from its prefix.
    assert [str(warning.message) for warning in warned] == [
        "The utterance 'utter_forgotten' is not used in any story, rule, form or custom action."]
    with pytest.warns(UserWarning):
        assert validator.verify_utterances_in_stories(ignore_warnings=True) is True



def test_every_nlu_data_file_loads_without_a_warning():
    # A '#' line inside `examples: |` is text, not a comment: Rasa skips it as a malformed
    # example with a UserWarning that `make validate` prints (and still passes).
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    files = sorted((PROJECT_DIR / "data" / "nlu").rglob("*.yml"))
    assert files
    with warnings.catch_warnings():  # once first: the libraries Rasa imports on its first read warn too
        warnings.simplefilter("ignore")
        RasaYAMLReader().read(files[0])
    warned = {}
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            RasaYAMLReader().read(path)
        found = [str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)]
        if found:  # Rasa's findings are UserWarnings; deprecations are the libraries' business
            warned[str(path.relative_to(PROJECT_DIR))] = found
    assert warned == {}
