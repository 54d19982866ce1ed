"""PLACEHOLDER for the summary generator (the `summary` branch replaces this file at merge).

Same signature as the real one; it only names the customer, the reason and the last
customer message, so the bot side can be built and tested before the real summary lands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List


@dataclass(frozen=True)
class HandoffSummary:
    customer_id: str
    reason: str
    paragraph: str

    def to_dict(self) -> Dict[str, Any]:
        return {"customer_id": self.customer_id, "reason": self.reason, "paragraph": self.paragraph}

    def to_text(self) -> str:
        return self.paragraph


async def generate_summary(customer_id: str, *, crm: Any, tracker_events: List[dict],
                           reason: str) -> HandoffSummary:
    said = [e.get("text") for e in tracker_events if e.get("event") == "user" and e.get("text")]
    last = f' Last message: "{said[-1]}".' if said else ""
    return HandoffSummary(customer_id, reason, f"Customer {customer_id} needs a person ({reason}).{last}")
