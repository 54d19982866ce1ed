"""Failpoints: end the process at a named point, for fault-injection tests (after etcd's gofail).

    THREADLINE_FAILPOINTS="after_provider_send=1,before_inbox_ack=3"
    THREADLINE_FAILPOINTS_DIR=/tmp/run-42/failpoints   # default var/failpoints

The K-th time *any* process of the run reaches `name`, that process ends at once with
`os._exit(EXIT_CODE)`: no `finally`, no flush, no acknowledgement, as if it were killed.
Hits are counted in a file per point under THREADLINE_FAILPOINTS_DIR (shared by every process
started with the same variables), so the supervisor's restarted process counts on from K and
never fires the same point again. A fired point leaves `<name>.fired` there with the pid.

Unset (production), `reach` is one lookup in an empty dict.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import Dict

AFTER_PROVIDER_SEND = "after_provider_send"  # the provider confirmed the first message of a turn
AFTER_TRACKER_SAVE = "after_tracker_save"  # the turn is saved, the inbox entry not yet acknowledged
BEFORE_INBOX_ACK = "before_inbox_ack"  # the handler returned, the acknowledgement not yet sent
BEFORE_TIMELINE_COMMIT = "before_timeline_commit"  # CRM rows written, transaction not committed
DURING_MERGE = "during_merge"  # a merge's CRM rows moved, the conversation log not yet merged

KNOWN = frozenset({AFTER_PROVIDER_SEND, AFTER_TRACKER_SAVE, BEFORE_INBOX_ACK,
                   BEFORE_TIMELINE_COMMIT, DURING_MERGE})
EXIT_CODE = 86


class FailpointError(ValueError):
    """THREADLINE_FAILPOINTS names an unknown point or a count that is not a positive integer."""


def parse(spec: str) -> Dict[str, int]:
    armed: Dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        name = name.strip()
        if name not in KNOWN:
            raise FailpointError(f"THREADLINE_FAILPOINTS: unknown point {name!r} (known: {', '.join(sorted(KNOWN))})")
        try:
            armed[name] = int(count or "1")
        except ValueError:
            raise FailpointError(f"THREADLINE_FAILPOINTS: {item!r} needs name=K with K a positive integer") from None
        if armed[name] < 1:
            raise FailpointError(f"THREADLINE_FAILPOINTS: {item!r} needs K >= 1")
    return armed


_ARMED: Dict[str, int] = parse(os.environ.get("THREADLINE_FAILPOINTS", ""))


def state_dir() -> Path:
    return Path(os.environ.get("THREADLINE_FAILPOINTS_DIR") or "var/failpoints")


def reach(name: str) -> None:
    """Count a hit of `name`; end the process if it is the armed K-th hit of the whole run."""
    if name not in _ARMED:
        return
    _hit(name, _ARMED[name])


def _hit(name: str, fire_at: int) -> None:
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.hits", "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)  # processes of the run count one after another
        counter.seek(0)
        hits = int(counter.read().strip() or 0) + 1
        counter.seek(0)
        counter.truncate()
        counter.write(str(hits))
        counter.flush()
        os.fsync(counter.fileno())
        if hits != fire_at:
            return
        (folder / f"{name}.fired").write_text(str(os.getpid()))
    sys.stderr.write(f"threadline failpoint {name} fired (hit {hits}) in process {os.getpid()}\n")
    sys.stderr.flush()
    os._exit(EXIT_CODE)
