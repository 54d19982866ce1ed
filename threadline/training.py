"""Train the model only when its inputs changed.

`rasa train` has its own fingerprinting, but it loads Rasa and TensorFlow just to say
"nothing changed" (~20 s). Hashing the inputs here takes milliseconds, which keeps a
second `make run` fast.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from threadline.settings import PROJECT_DIR

MODEL_NAME = "threadline"
# The custom NLU components (threadline/nlu) count too: config.yml names them, and a change to
# their code changes what the model learns.
TRAINING_INPUTS = ("config.yml", "domain.yml", "domain", "data", "threadline/nlu")


def model_path(project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / "models" / f"{MODEL_NAME}.tar.gz"


def _fingerprint_path(project_dir: Path) -> Path:
    return project_dir / "models" / f"{MODEL_NAME}.fingerprint"


def input_fingerprint(project_dir: Path = PROJECT_DIR) -> str:
    """A hash of every training input file's path and content."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        root = project_dir / name
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(project_dir)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def needs_training(project_dir: Path = PROJECT_DIR) -> bool:
    stamp = _fingerprint_path(project_dir)
    return not (
        model_path(project_dir).is_file()
        and stamp.is_file()
        and stamp.read_text().strip() == input_fingerprint(project_dir)
    )


def train(project_dir: Path = PROJECT_DIR) -> None:
    """Run `rasa train` and record the fingerprint of what it was trained on."""
    fingerprint = input_fingerprint(project_dir)
    command = [
        sys.executable, "-m", "rasa", "train",
        "--fixed-model-name", MODEL_NAME, "--out", "models",
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run(command, cwd=project_dir, env=env, check=True)
    _fingerprint_path(project_dir).write_text(fingerprint + "\n")


def main() -> None:
    if needs_training():
        print("threadline: training inputs changed; training the model", flush=True)
        try:
            train()
        except subprocess.CalledProcessError as error:
            raise SystemExit(f"threadline: training failed (exit {error.returncode})")
    else:
        print(f"threadline: model is up to date ({model_path().relative_to(PROJECT_DIR)})")


if __name__ == "__main__":
    main()
