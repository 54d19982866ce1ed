"""Groups of intents that several parts read the same way (handoff summaries, Insights metrics).

They live here, beside the NLU, so no reader has to import another reader to agree with it.
"""
from __future__ import annotations

# Intents that say nothing about what the customer wants now.
SMALL_TALK = frozenset({"greet", "goodbye", "affirm", "deny", "thank", "share_media",
                        "unsupported_message", "nlu_fallback"})
