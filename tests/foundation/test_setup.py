"""scripts/setup.sh says clearly what to install when no usable Python exists."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def test_without_python_310_setup_names_what_to_install(tmp_path):
    for name in ("requirements.txt", "requirements-dev.txt", "constraints.txt"):
        shutil.copy(PROJECT / name, tmp_path / name)
    # setup.sh's stamp covers the pinned embedding's digests too.
    (tmp_path / "threadline" / "nlu").mkdir(parents=True)
    shutil.copy(PROJECT / "threadline" / "nlu" / "embeddings.py", tmp_path / "threadline" / "nlu")
    (tmp_path / "scripts").mkdir()
    shutil.copy(PROJECT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    # A PATH with the basic tools but no Python, no pyenv.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "mkdir", "dirname", "rm", "tail"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYTHON": ""}
    result = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    has_other_310 = any(Path(f"/usr/{d}/python3.{v}").exists()
                        for d in ("bin", "local/bin") for v in (8, 9, 10))
    if has_other_310:
        pytest.skip("a system-wide Python 3.8-3.10 exists, so setup.sh would use it")
    assert result.returncode == 1
    assert "no Python 3.8-3.10 found" in result.stderr
    assert "python3.10" in result.stderr
    assert not (tmp_path / ".venv").exists()
