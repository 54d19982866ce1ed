"""Printing results either as JSON (`--json`) or as readable lines."""
from __future__ import annotations

import json
from typing import Any, Callable


def emit(args: Any, payload: Any, render_text: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    else:
        print(render_text(payload))
