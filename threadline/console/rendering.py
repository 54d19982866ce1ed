"""Jinja2 templates (autoescaped), one environment per language, and the filters they use.

Each language has its own environment with its translations installed (Jinja2's i18n
extension) and its own filters, so that rendering one page never changes another's language.
"""
from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Optional

import jinja2
from aiohttp import web

from threadline.console.i18n import LOCALES, NATIVE_NAMES, translator
from threadline.console.state import console_of
from threadline.handoff.languages import Words, marked
from threadline.handoff.rendering import channel_label
from threadline.sandbox.modes import sandboxed

TEMPLATES = Path(__file__).resolve().parent / "templates"


def waited_in(language: str) -> Callable[[Optional[datetime]], str]:
    """How long ago, as an agent reads it: "just now", "12 min", "3 h 5 min", "2 d"."""
    gettext = translator(language).gettext

    def waited(since: Optional[datetime]) -> str:
        if since is None:
            return ""
        seconds = (datetime.now(timezone.utc).replace(tzinfo=None) - since).total_seconds()
        minutes = int(seconds // 60)
        if minutes < 1:
            return gettext("just now")
        if minutes < 60:
            return gettext("%(minutes)d min") % {"minutes": minutes}
        if minutes < 24 * 60:
            return gettext("%(hours)d h %(minutes)d min") % {"hours": minutes // 60, "minutes": minutes % 60}
        return gettext("%(days)d d") % {"days": minutes // (24 * 60)}

    return waited


def stamp_in(language: str) -> Callable[[Optional[datetime]], str]:
    """"20 Nov 14:05" in English, "20/11 14:05" in Portuguese: as the handoff summary writes them."""
    words = Words(language)
    return lambda moment: words.moment(moment) if moment else ""


def channel_in(language: str) -> Callable[[Optional[str]], str]:
    gettext = translator(language).gettext
    return lambda channel: gettext(channel_label(channel))


def day_in(language: str) -> Callable[[Optional[str]], str]:
    """An ISO date as the agent reads it: "20 Nov", "20/11"."""
    words = Words(language)
    return lambda iso: words.day(date.fromisoformat(iso)) if iso else ""


# What the `word` filter meets (marked for `pybabel extract -k marked`, see console.po): stored codes, and the channel labels of handoff/rendering.py.
STORED_WORDS = (
    marked("requested"), marked("complaint"), marked("negative sentiment"), marked("not understood"),
    marked("sales ready"), marked("sensitive topic"), marked("waiting"), marked("assigned"),
    marked("resolved"), marked("handed back"), marked("closed"), marked("held"), marked("failed"),
    marked("customer"), marked("bot"), marked("agent"),
    # follow-up kinds (threadline/followups/rules.py KINDS)
    marked("stalled lead"), marked("unanswered"), marked("promise due"), marked("intent without order"))
CHANNEL_WORDS = (
    marked("Unknown channel"), marked("Web chat"), marked("Email"), marked("Console"))


def word_in(language: str) -> Callable[[Optional[str]], str]:
    """A stored code (reason, status, author…) as a word: "not_understood" → "not understood"."""
    gettext = translator(language).gettext
    return lambda code: gettext((code or "").replace("_", " "))


def localised_in(language: str) -> Callable[[Optional[dict]], dict]:
    """A stored handoff summary in `language` where it was written in it too
    (summary_model.HandoffSummary.to_dict), else as written (English)."""
    def localised(summary: Optional[dict]) -> dict:
        summary = summary or {}
        return {**summary, **(summary.get("languages") or {}).get(language, {})}

    return localised


def environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translator(language), newstyle=True)
    env.filters.update(channel=channel_in(language), waited=waited_in(language), stamp=stamp_in(language),
                       day=day_in(language), word=word_in(language), localised=localised_in(language))
    env.globals.update(language=language, html_lang=LOCALES[language].replace("_", "-"),
                       languages=NATIVE_NAMES)
    # Decided from the channels' own variables, which `make run` gives the console like every
    # other service: an agent must see that replies on these channels reach no real customer.
    env.globals["sandboxed_channels"] = sandboxed(os.environ)
    return env


def environments() -> Dict[str, jinja2.Environment]:
    return {language: environment(language) for language in LOCALES}


def language_of(request: web.Request) -> str:
    """Set for every request by the `choose_language` middleware (security.py)."""
    return request["language"]


def render_fragment(request: web.Request, template: str, context: dict) -> str:
    return console_of(request).templates[language_of(request)].get_template(template).render(**context)


def render(request: web.Request, template: str, context: dict, status: int = 200) -> web.Response:
    session = request.get("session")
    agent = request.get("agent")
    csrf_token = session.csrf_token if session else context.get("csrf_token", "")
    page = console_of(request).templates[language_of(request)].get_template(template).render(
        {**context, "agent": agent, "csrf_token": csrf_token, "path": request.path_qs})
    return web.Response(text=page, status=status, content_type="text/html")
