"""The language a new customer is answered in while none of their messages has said which:
THREADLINE_DEFAULT_LANGUAGE, "pt" unless set.

Portuguese because the business is Brazilian: most customers write Portuguese, and a first
message that can't be placed ("TL-48213", "👍", "o Orbit Smartwatch") comes far more often from
a Brazilian than from anyone else; a Spanish speaker, whose first message has no language we
speak, reads Portuguese more easily than English too. The first message in a language we speak
switches the customer to it (actions/language.py).
"""
from __future__ import annotations

import os

from threadline.language.detect import SPOKEN

DEFAULT_LANGUAGE = "pt"
VARIABLE = "THREADLINE_DEFAULT_LANGUAGE"


def default_language() -> str:
    """The configured default; a value we do not speak is a configuration error."""
    value = os.environ.get(VARIABLE, "").strip().lower() or DEFAULT_LANGUAGE
    if value not in SPOKEN:
        raise ValueError(f"{VARIABLE} must be one of {', '.join(SPOKEN)}, not {value!r}")
    return value
