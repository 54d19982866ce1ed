"""Train the model only when its inputs changed.

`rasa train` has its own fingerprinting, but it loads Rasa and TensorFlow just to say
"nothing changed" (~20 s). Hashing the inputs here takes milliseconds, which keeps a
second `make run` fast.

`rasa train` prints a few hundred lines (progress bars, library warnings); they all go to
var/log/training.log, and the terminal gets one line per component trained, per step of
our own long components (the intent classifier's calibration folds) and the policy epochs
at every quarter.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from threadline.quiet import quiet_library_warnings
from threadline.settings import PROJECT_DIR

MODEL_NAME = "threadline"
# The custom NLU components (threadline/nlu) count too: config.yml names them, and a change to
# their code changes what the model learns.
TRAINING_INPUTS = ("config.yml", "domain.yml", "domain", "data", "threadline/nlu")
# What Rasa 3.6 prints while training (rasa/engine/training/hooks.py, tqdm's epoch bar).
COMPONENT_STARTED = re.compile(r"Starting to train component '([^']+)'")
EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
EPOCH_STEPS = (25, 50, 75, 100)  # percentages of a policy's epochs worth a line
# What our own long-running components log at each step (threadline/nlu/calibration.py).
COMPONENT_STEP = re.compile(r"Training step: (.+?)\s*$")


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


def training_log(project_dir: Path = PROJECT_DIR) -> Path:
    var_dir = Path(os.environ.get("THREADLINE_VAR_DIR") or project_dir / "var")
    return var_dir / "log" / "training.log"


def output_pieces(stream: BinaryIO) -> Iterator[bytes]:
    """`stream` cut after each newline or carriage return (progress bars redraw with `\\r`)."""
    pending = b""
    for chunk in iter(lambda: stream.read1(4096), b""):
        *complete, pending = re.split(rb"(?<=[\r\n])", pending + chunk)
        yield from complete
    if pending:
        yield pending


class TrainingProgress:
    """Turns `rasa train`'s output into a few progress lines."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.components = 0
        self.component: Optional[str] = None
        self.epochs_reported = 0  # the last of EPOCH_STEPS printed for this component

    def line_for(self, text: str) -> Optional[str]:
        started = COMPONENT_STARTED.search(text)
        if started:
            self.components += 1
            self.component, self.epochs_reported = started.group(1), 0
            return f"threadline: training: component {self.components}, {self.component} ({self.elapsed()})"
        step = COMPONENT_STEP.search(text)
        if step:
            return f"threadline: training: {self.component}, {step.group(1)} ({self.elapsed()})"
        epochs = EPOCHS.search(text)
        if epochs:
            reached = max((step for step in EPOCH_STEPS if step <= int(epochs.group(1))), default=0)
            if reached > self.epochs_reported:
                self.epochs_reported = reached
                return f"threadline: training: {self.component} epochs {epochs.group(1)}% ({self.elapsed()})"
        return None

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.0f}s"


def train(project_dir: Path = PROJECT_DIR) -> None:
    """Run `rasa train` (its output into training_log()) and record the fingerprint of what
    it was trained on. Raises CalledProcessError when it fails."""
    fingerprint = input_fingerprint(project_dir)
    command = [
        sys.executable, "-m", "rasa", "train",
        "--fixed-model-name", MODEL_NAME, "--out", "models",
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    log_path = training_log(project_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress = TrainingProgress()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=project_dir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        for piece in output_pieces(process.stdout):
            log_file.write(piece)
            line = progress.line_for(piece.decode(errors="replace"))
            if line:
                print(line, flush=True)
        code = process.wait()
    if code:
        raise subprocess.CalledProcessError(code, command)
    _fingerprint_path(project_dir).write_text(fingerprint + "\n")
    print(f"threadline: training done in {progress.elapsed()}", flush=True)


def main() -> None:
    quiet_library_warnings()
    if needs_training():
        print(f"threadline: training inputs changed; training the model (a few minutes; full output in "
              f"{training_log()})", flush=True)
        try:
            train()
        except subprocess.CalledProcessError as error:
            tail = training_log().read_text(errors="replace").splitlines()[-15:]
            print("\n".join(f"  | {line}" for line in tail), file=sys.stderr)
            raise SystemExit(f"threadline: training failed (exit {error.returncode}); see {training_log()}")
    else:
        print(f"threadline: model up to date ({model_path().relative_to(PROJECT_DIR)}: training inputs "
              f"unchanged since it was trained)")


if __name__ == "__main__":
    main()
