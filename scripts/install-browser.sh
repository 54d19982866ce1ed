#!/usr/bin/env bash
# What the console's browser test needs: Debian's chromium (never Playwright's own browser
# downloads) and the playwright Python package that drives it. Idempotent; quiet when done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "threadline: installing chromium with apt-get (for the console's browser test)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "threadline: chromium is missing; install it (Debian/Ubuntu: 'sudo apt-get install chromium')" >&2
    exit 1
  fi
fi

if ! "$PY" -c 'import playwright' 2>/dev/null; then
  echo "threadline: installing playwright (requirements-dev.txt)"
  "$PY" -m pip install -q "$(grep -E '^playwright' requirements-dev.txt)" -c constraints.txt
fi
