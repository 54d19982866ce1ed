"""The message a follow-up sends: a response of domain.yml in the customer's language and the
channel's variant, filled with the item's context; on WhatsApp outside the 24-hour window, the
rule's approved template with its parameters instead (Meta refuses anything else there).

The text is filled here, not by Rasa, because the context (the product, what was promised) is
the item's, not the tracker's slots. A message whose context lacks a value it needs is not sent
(`MissingContext`): "Still thinking about the ?" would be worse than nothing.
"""
from __future__ import annotations

import string
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ruamel.yaml import YAML

from threadline.followups.rules import DOMAIN_PATH, Rule
from threadline.i18n import texts_for

WHATSAPP_WINDOW = timedelta(hours=24)
# Meta's language code per language we speak (connectors/whatsapp.py's defaults).
TEMPLATE_LANGUAGES = {"pt": "pt_BR", "en": "en"}
# Context fields holding an ISO date (kept so in the follow-up record), said in the customer's locale.
DATE_FIELDS = frozenset({"due_date"})


class MissingContext(ValueError):
    """The response or template needs a value the item does not have."""


def load_responses(path: Path = DOMAIN_PATH) -> Dict[str, List[Dict[str, Any]]]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("responses") or {})


def _is_pt(variant: Mapping[str, Any]) -> bool:
    return any(c.get("name") == "language" and c.get("value") == "pt" for c in variant.get("condition") or ())


def pick_variant(variants: List[Dict[str, Any]], channel: str, language: Optional[str]) -> Dict[str, Any]:
    """The channel's variant in the customer's language, else that language's default one."""
    pt = language == "pt"
    own = [v for v in variants if _is_pt(v) == pt] or [v for v in variants if not _is_pt(v)]
    for variant in own:
        if variant.get("channel") == channel:
            return variant
    return next(v for v in own if not v.get("channel"))


def fill(text: str, context: Mapping[str, str], language: Optional[str] = None) -> str:
    """`text` with its placeholders filled from `context`, dates in the customer's locale
    ("04/12 (sexta-feira)"); MissingContext when a value it needs is absent or blank."""
    needed = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    missing = [name for name in needed if not str(context.get(name) or "").strip()]
    if missing:
        raise MissingContext(", ".join(missing))
    return text.format_map({name: _said(name, str(context[name]), language) for name in needed})


def _said(name: str, value: str, language: Optional[str]) -> str:
    if name in DATE_FIELDS:
        try:
            return texts_for(language).date(date.fromisoformat(value))
        except ValueError:
            raise MissingContext(name) from None
    return value


def whatsapp_window_open(last_inbound: Optional[datetime], now: datetime) -> bool:
    return last_inbound is not None and now - last_inbound <= WHATSAPP_WINDOW


def bot_event(rule: Rule, responses: Mapping[str, List[Dict[str, Any]]], channel: str, language: Optional[str],
              context: Mapping[str, str], template: bool = False) -> Dict[str, Any]:
    """The Rasa `bot` event that sends the follow-up on `channel` (the template when `template`)."""
    lang = "pt" if language == "pt" else "en"
    metadata = {"channel": channel, "language": lang, "utter_action": rule.response, "followup": rule.kind}
    if template:
        spec = rule.whatsapp_template
        if spec is None:
            raise MissingContext("whatsapp_template")
        values = [str(context.get(p) or "").strip() for p in spec.parameters]
        if not all(values):
            raise MissingContext(", ".join(p for p, v in zip(spec.parameters, values) if not v))
        values = [_said(p, v, lang) for p, v in zip(spec.parameters, values)]
        body = {"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}
        custom = {"type": "template", "template": {"name": spec.name, "language": {"code": TEMPLATE_LANGUAGES[lang]},
                                                   "components": [body]}}
        return {"event": "bot", "text": None, "data": {"custom": custom}, "metadata": metadata}
    text = fill(pick_variant(responses[rule.response], channel, language)["text"], context, lang)
    return {"event": "bot", "text": text, "metadata": metadata}
