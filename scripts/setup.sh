#!/usr/bin/env bash
# Builds .venv with the pinned requirements. Idempotent: a stamp records what was installed,
# so a second run with nothing changed returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP=$VENV/.threadline-installed
LOG=var/log/setup.log
mkdir -p var/log

# Rasa 3.6 runs on Python 3.8-3.10; 3.10 is preferred.
python_ok() {
  "$1" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' 2>/dev/null
}

find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.10 python3.9 python3.8)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for v in 10 9 8; do
      for p in "$root"/versions/3."$v"*/bin/python3."$v"; do [ -x "$p" ] && candidates+=("$p"); done
    done
  fi
  for v in 10 9 8; do candidates+=("/usr/bin/python3.$v" "/usr/local/bin/python3.$v"); done
  candidates+=(python3)
  for c in "${candidates[@]}"; do
    local path; path=$(command -v "$c" 2>/dev/null) || continue
    if python_ok "$path"; then echo "$path"; return 0; fi
  done
  return 1
}

# The pinned embedding files (threadline/nlu/embeddings.py) are part of the environment too.
EMBEDDINGS=$VENV/share/threadline/embeddings
want=$(cat requirements.txt requirements-dev.txt constraints.txt threadline/nlu/embeddings.py | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -d "$EMBEDDINGS" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
  if ! py=$(find_python); then
    echo "threadline: no Python 3.8-3.10 found (Rasa 3.6 needs one; 3.10 preferred). Install python3.10 (e.g. 'pyenv install 3.10' or your OS package python3.10-venv), or set PYTHON=/path/to/python3.10." >&2
    exit 1
  fi
  echo "threadline: creating $VENV with $py ($("$py" --version 2>&1))"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
fi

# Every package of the frozen tree is one pip "Collecting" or "already satisfied" line.
total=$(grep -c -E '^[A-Za-z0-9_.-]+==' constraints.txt || true)
echo "threadline: installing $total pinned packages into $VENV (log: $LOG; first time takes a few minutes)"
# wheel 0.46+ needs packaging >= 24, which would replace Rasa 3.6's pinned packaging 20.9 in a
# venv that is only being updated.
{ "$VENV/bin/python" -m pip install --upgrade pip "wheel<0.46" \
  && "$VENV/bin/python" -m pip install -r requirements.txt -r requirements-dev.txt -c constraints.txt; } >"$LOG" 2>&1 &
pip_pid=$!
# A progress line at most every 10 s while pip runs, when the count moved (new lines, not
# redrawn ones: logs and CI keep them).
reported=-1
last_report=$SECONDS
while kill -0 "$pip_pid" 2>/dev/null; do
  sleep 1
  [ $((SECONDS - last_report)) -lt 10 ] && continue
  done_count=$(grep -c -E '^(Collecting|Requirement already satisfied)' "$LOG" || true)
  [ "$done_count" -gt "$total" ] && done_count=$total
  if [ "$done_count" != "$reported" ]; then
    echo "threadline: installing: $done_count/$total packages resolved"
    reported=$done_count
    last_report=$SECONDS
  fi
done
if ! wait "$pip_pid"; then
  tail -n 30 "$LOG" >&2
  echo "threadline: installing requirements failed; see $LOG" >&2
  exit 1
fi
echo "threadline: installing the pinned pretrained embedding (a 16 MB file from PyPI)"
if ! "$VENV/bin/python" -m threadline.nlu.embeddings install >>"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  echo "threadline: installing the embedding failed; see $LOG" >&2
  exit 1
fi
echo "$want" > "$STAMP"
echo "threadline: environment ready"
