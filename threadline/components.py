"""The components Threadline runs, each as its own process: what `bin/threadline serve NAME`
starts, and what `make run`'s launcher starts (the same command lines), so they can be spread
over machines (docs/deploy.md, "Components").

`email` is the email channel's IMAP reader on its own (connectors/email/reader_service.py);
the Rasa servers then get THREADLINE_EMAIL_READER=separate. Without it the reader runs in every
Rasa server. Either way one at a time reads (connectors/email/reader_lease.py).
"""
from __future__ import annotations

from typing import Callable, Dict, List

from threadline.settings import Settings
from threadline.training import model_path


def _rasa(s: Settings) -> List[str]:
    return ["-m", "threadline.rasa_server", "run", "--enable-api",
            "--interface", s.rasa_host, "--port", str(s.rasa_port), "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml", "--model", str(model_path())]


def _actions(s: Settings) -> List[str]:
    return ["-m", "threadline.action_server", "--actions", "actions", "--port", str(s.action_port)]


def _worker(_: Settings) -> List[str]:
    return ["-m", "threadline.inbox_worker", "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml", "--model", str(model_path())]


# name -> the Python arguments (after the interpreter) that run it, from the settings.
COMPONENTS: Dict[str, Callable[[Settings], List[str]]] = {
    "rasa": _rasa,
    "actions": _actions,
    "worker": _worker,
    "timeline": lambda _: ["-m", "threadline.crm.timeline_worker"],
    "followups": lambda _: ["-m", "threadline.followups"],
    "console": lambda _: ["-m", "threadline.console"],
    "email": lambda _: ["-m", "connectors.email.reader_service", "--credentials", "credentials.yml"],
}


def component_args(name: str, settings: Settings) -> List[str]:
    if name not in COMPONENTS:
        raise ValueError(f"no component {name!r}; one of: {', '.join(COMPONENTS)}")
    return COMPONENTS[name](settings)
