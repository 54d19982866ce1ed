"""Only our own words on the terminal: library warnings are hidden, ours are kept.

Rasa, TensorFlow, SQLAlchemy, Click, pyparsing, pkg_resources and friends print dozens of
`DeprecationWarning`s and `UserWarning`s that nobody running Threadline can act on, and they
bury the lines that matter. Every entry point we own calls `quiet_library_warnings()` first;
`THREADLINE_LOG_LEVEL=debug` turns the filter off (and the launcher's library logging back
on), for when a library's own complaint is what you are looking for.

The filter sits in `warnings.showwarning`, not in the filter list: Rasa's command line inserts
its own filters in front (`once` for every UserWarning), which would undo ours there. Whether
a warning is ours is decided by the file it is attributed to (`threadline/`, `connectors/`,
`actions/`, ... in this project, never its virtual environment), so a deprecated library call
made from our code still shows: that one is ours to fix.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Mapping, Optional, TextIO, Tuple, Type

from threadline.settings import PROJECT_DIR, load_env_file

LOG_LEVEL_VARIABLE = "THREADLINE_LOG_LEVEL"
# Top-level folders of this project that hold code we write (bench and tests included).
OUR_CODE = frozenset({"threadline", "connectors", "actions", "bench", "scripts", "tests"})

ShowWarning = Callable[..., None]


def debug_requested(env: Mapping[str, str] = os.environ) -> bool:
    load_env_file()  # THREADLINE_LOG_LEVEL may be set in .env; this runs before Settings reads it
    return env.get(LOG_LEVEL_VARIABLE, "").strip().lower() == "debug"


def is_ours(filename: str, project_dir: Path = PROJECT_DIR) -> bool:
    """True for a file of this project's own code (not its .venv, not a library)."""
    path = Path(filename)
    # As written and resolved: the project or its .venv may be reached through a symlink.
    for candidate, root in ((path, project_dir), (path.resolve(), project_dir.resolve())):
        try:
            parts = candidate.relative_to(root).parts
        except ValueError:  # the standard library, another folder, <frozen importlib._bootstrap>
            continue
        return bool(parts) and parts[0] in OUR_CODE
    return False


def quiet_library_warnings(categories: Tuple[Type[Warning], ...] = (Warning,)) -> None:
    """From now on, warnings of `categories` raised in library code are not shown (unless
    THREADLINE_LOG_LEVEL=debug); ours always are. `make validate` passes only the
    deprecation categories, because Rasa's UserWarnings are its findings there."""
    if debug_requested():
        return
    # TensorFlow's C++ side prints its own INFO and WARNING lines (no GPU, CPU instructions,
    # no TensorRT) on stderr whenever it loads, here and in every process started from here.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    shown: ShowWarning = warnings.showwarning
    if getattr(shown, "hides_library_warnings", None) == categories:
        return  # already installed with these categories: do not wrap twice

    def show_unless_library(message: Warning | str, category: Type[Warning], filename: str, lineno: int,
                            file: Optional[TextIO] = None, line: Optional[str] = None) -> None:
        if issubclass(category, categories) and not is_ours(filename):
            return
        shown(message, category, filename, lineno, file, line)

    show_unless_library.hides_library_warnings = categories  # type: ignore[attr-defined]
    warnings.showwarning = show_unless_library


def configure_terminal_logging() -> None:
    """Our loggers at INFO, libraries' (alembic's "Context impl SQLiteImpl.", ...) only from
    WARNING up; everything at DEBUG with THREADLINE_LOG_LEVEL=debug."""
    if debug_requested():
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        return
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for ours in OUR_CODE:
        logging.getLogger(ours).setLevel(logging.INFO)
