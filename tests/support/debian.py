"""Debian packages the tests and benchmarks run (pgbouncer, haproxy): installed with apt-get
when missing and we may (root with apt-get); only their binaries are used, the system services
are never configured or started."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def binary(name: str, package: str) -> str:
    """The path of `name` (in PATH or /usr/sbin), installing `package` first when it is missing."""
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").is_file() else None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"{name} is not installed; run: sudo apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True, env=env)
    found = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(found).is_file():
        raise RuntimeError(f"apt-get installed {package} but {name} is still missing")
    return found
