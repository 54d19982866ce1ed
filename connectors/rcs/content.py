"""What the RCS connector sends: an RBM `contentMessage` and, made at the same time, the SMS
that replaces it when RCS cannot reach the customer.

Every outbound payload is `{"to", "kind", "content", "ttl_s", "sms": {"text", "options"}}`:
- `content`: the RBM AgentContentMessage (text + suggested replies, a standalone rich card,
  a carousel of 2-10 cards, a file);
- `sms`: the same message as plain text; suggestions become numbered options under it
  ("1. Buy"), and `options` keeps their payloads so that a reply "1" by SMS means the same
  as tapping the suggestion.

Rich answers reach the connector as Rasa custom JSON:
`{"rcs": {"card": CARD}}` or `{"rcs": {"text": "...", "carousel": [CARD, CARD, ...]}}`, where
CARD is `{"title", "description", "image" (URL), "buttons": [{"title", "payload"}]}`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from connectors.rcs import rbm
from connectors.webhook.output import Payload
from threadline.i18n import N_, texts_for

# Short and GSM-7, as the SMS connector's hint (connectors/sms.py).
NUMBERED_HINT = N_("Reply with a number.")
ANSWER_TTL_S = 3600  # an answer an hour late is better sent by SMS
CODE_TTL_S = 600  # a one-time code must arrive while it is valid

Option = Dict[str, str]


def options_of(buttons: List[Dict[str, Any]]) -> List[Option]:
    """Rasa buttons as {title, payload} (a button without a payload sends its title)."""
    return [{"title": str(b.get("title", "")), "payload": str(b.get("payload") or b.get("title", ""))}
            for b in buttons if isinstance(b, dict)]


def numbered_sms(text: str, options: List[Option], language: Optional[str]) -> str:
    if not options:
        return text
    lines = [f"{number}. {option['title']}" for number, option in enumerate(options, 1)]
    hint = texts_for(language).gettext(NUMBERED_HINT)
    return "\n".join([text, "", *lines, "", hint]).strip()


def payload(to: str, kind: str, content: Dict[str, Any], ttl_s: int, sms_text: str,
            options: Optional[List[Option]] = None) -> Payload:
    return {"to": to, "kind": kind, "content": content, "ttl_s": ttl_s,
            "sms": {"text": sms_text, "options": options or []}}


def text(to: str, words: str, ttl_s: int) -> Payload:
    return payload(to, "text", {"text": words}, ttl_s, words)


def with_suggestions(to: str, words: str, buttons: List[Dict[str, Any]], ttl_s: int,
                     language: Optional[str]) -> Optional[Payload]:
    """Text with suggested replies; None when they do not fit RBM's limits (numbered instead)."""
    options = options_of(buttons)
    if len(words) > rbm.TEXT_LIMIT or not rbm.suggestions_fit(options):
        return None
    content = {"text": words, "suggestions": [rbm.suggestion(o["title"], o["payload"]) for o in options]}
    return payload(to, "suggestions", content, ttl_s, numbered_sms(words, options, language), options)


def image(to: str, url: str, ttl_s: int) -> Payload:
    return payload(to, "file", {"contentInfo": {"fileUrl": url, "forceRefresh": False}}, ttl_s, url)


def _card(raw: Dict[str, Any]) -> Dict[str, Any]:
    card = {k: raw.get(k) for k in ("title", "description", "image")}
    card["options"] = options_of(raw.get("buttons") or raw.get("options") or [])[:rbm.MAX_CARD_SUGGESTIONS]
    return card


def _card_sms(card: Dict[str, Any]) -> str:
    head = " - ".join(str(card[k]) for k in ("title", "description") if card.get(k))
    return head or str(card.get("image") or "")


def rich(to: str, custom: Dict[str, Any], ttl_s: int, language: Optional[str]) -> Optional[Payload]:
    """A standalone card or a carousel from `{"rcs": {...}}`; None for anything else."""
    spec = custom.get("rcs") if isinstance(custom, dict) else None
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("card"), dict):
        card = _card(spec["card"])
        content = {"richCard": {"standaloneCard": {"cardOrientation": "VERTICAL",
                                                   "cardContent": rbm.card_content(card)}}}
        options = card["options"]
        return payload(to, "card", content, ttl_s, numbered_sms(_card_sms(card), options, language), options)
    cards = [_card(c) for c in spec.get("carousel") or [] if isinstance(c, dict)]
    if not rbm.CAROUSEL_MIN <= len(cards) <= rbm.CAROUSEL_MAX:
        return None
    content = {"richCard": {"carouselCard": {"cardWidth": "MEDIUM",
                                             "cardContents": [rbm.card_content(c) for c in cards]}}}
    # By SMS: one line per card, then every card's options numbered in one list.
    lines = [str(spec.get("text") or "").strip()] if spec.get("text") else []
    lines += [f"- {_card_sms(c)}" for c in cards]
    options = [{"title": f"{c.get('title') or ''}: {o['title']}".strip(": "), "payload": o["payload"]}
               for c in cards for o in c["options"]]
    return payload(to, "carousel", content, ttl_s, numbered_sms("\n".join(lines), options, language), options)
