"""`make run` retrains only when a training input changed."""
from __future__ import annotations

import shutil
from pathlib import Path

from threadline import training

PROJECT = Path(__file__).resolve().parents[2]


def make_project(tmp_path: Path) -> Path:
    for name in ("config.yml", "domain.yml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    shutil.copytree(PROJECT / "data", tmp_path / "data")
    (tmp_path / "models").mkdir()
    return tmp_path


def mark_trained(project: Path) -> None:
    training.model_path(project).write_bytes(b"model")
    (project / "models" / "threadline.fingerprint").write_text(training.input_fingerprint(project))


def test_untrained_project_needs_training(tmp_path):
    assert training.needs_training(make_project(tmp_path))


def test_trained_project_with_unchanged_inputs_does_not(tmp_path):
    project = make_project(tmp_path)
    mark_trained(project)
    (project / "README.md").write_text("not a training input")
    assert not training.needs_training(project)


def test_editing_any_training_input_requires_training(tmp_path):
    project = make_project(tmp_path)
    for edit in ("data/nlu.yml", "domain.yml", "config.yml"):
        mark_trained(project)
        with open(project / edit, "a") as handle:
            handle.write("\n# edited\n")
        assert training.needs_training(project), edit


def test_new_data_file_requires_training(tmp_path):
    project = make_project(tmp_path)
    mark_trained(project)
    (project / "data" / "extra.yml").write_text('version: "3.1"\n')
    assert training.needs_training(project)


def test_deleted_model_requires_training(tmp_path):
    project = make_project(tmp_path)
    mark_trained(project)
    training.model_path(project).unlink()
    assert training.needs_training(project)
