"""Optional: an OpenAI-compatible LLM rewrites the summary's paragraph and next step.

Configured by SUMMARY_LLM_URL (base URL; we POST {url}/chat/completions), SUMMARY_LLM_API_KEY,
SUMMARY_LLM_MODEL and SUMMARY_LLM_TIMEOUT_S (default 8). The prompt holds the deterministic
summary's facts only, redacted: the customer's first name (or "the customer"), no customer id,
no email, phone or street address, no secrets. The model may only write prose: the
structured parts stay deterministic. Any error, timeout or unusable answer keeps the
deterministic words and logs one line without content.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import aiohttp

from threadline.handoff.rendering import channel_label, reason_label, redact
from threadline.handoff.summary_model import HandoffSummary

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 8.0
MAX_WORDS = 110  # asked for 80; a little over is fine, an essay is not a summary
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")

SYSTEM_PROMPT = (
    "You write handoff notes for customer-service agents taking over a conversation from a bot. "
    "Use only the facts given; never invent orders, dates or promises. Reply with a JSON object "
    'and nothing else: {"paragraph": "...", "next_step": "..."}. The paragraph has at most 80 '
    "words: who the customer is, what they want now, and why a person is needed. The next step "
    "is one sentence telling the agent what to do first."
)


class UnusableAnswer(Exception):
    """The LLM answered, but not with a paragraph we can show."""


@dataclass(frozen=True)
class LlmSettings:
    url: str
    api_key: str = dataclasses.field(repr=False)
    model: str
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls) -> Optional["LlmSettings"]:
        """The settings when URL, key and model are all set; None keeps the summary offline."""
        url, key, model = (os.environ.get(f"SUMMARY_LLM_{n}", "").strip() for n in ("URL", "API_KEY", "MODEL"))
        if not (url and key and model):
            return None
        try:
            timeout = float(os.environ.get("SUMMARY_LLM_TIMEOUT_S", "") or DEFAULT_TIMEOUT_S)
        except ValueError:
            timeout = DEFAULT_TIMEOUT_S
        return cls(url.rstrip("/"), key, model, timeout)


def _private(display_name: Optional[str]) -> Tuple[Optional[str], Optional[re.Pattern]]:
    """(first name, pattern of the other parts of the name) for `display_name`."""
    parts = (display_name or "").split()
    others = [re.escape(p) for p in parts[1:] if len(p) > 1]
    return (parts[0] if parts else None,
            re.compile(rf"\b(?:{'|'.join(others)})\b", re.IGNORECASE) if others else None)


def prompt_messages(summary: HandoffSummary, display_name: Optional[str]) -> List[Dict[str, str]]:
    """The chat messages for `summary`: facts only, redacted, the customer by first name."""
    first_name, surnames = _private(display_name)

    def clean(text: str) -> str:
        text = redact(text)
        return surnames.sub("[name]", text) if surnames else text

    def lines(title: str, items: Any) -> str:
        body = "\n".join(f"- {clean(item)}" for item in items) or "- none"
        return f"{title}:\n{body}"

    facts = "\n".join([
        f"Customer: {first_name or 'the customer'}",
        f"Why a person is needed: {reason_label(summary.reason)}",
        f"Current intent: {summary.intent or 'unknown'}",
        f"Channels used: {', '.join(channel_label(c) for c in summary.channels) or 'none'}",
        f"Sentiment: {summary.sentiment_trend}",
        lines("Timeline", (e.line for e in summary.timeline)),
        lines("Last customer messages", (m.line for m in summary.last_messages)),
        lines("Open items", (i.line for i in summary.open_items)),
        lines("What the bot already answered or tried", summary.bot_already),
        f"Suggested next step: {clean(summary.next_step)}",
    ])
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": facts}]


def parse_answer(body: str) -> Tuple[str, Optional[str]]:
    """(paragraph, next step or None) from a chat-completions response body."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
        answer = json.loads(_FENCE.sub("", content.strip()))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise UnusableAnswer("not a chat completion with a JSON object") from error
    if not isinstance(answer, dict):
        raise UnusableAnswer("not a JSON object")
    paragraph, step = answer.get("paragraph"), answer.get("next_step")
    if not isinstance(paragraph, str) or not paragraph.strip():
        raise UnusableAnswer("no paragraph")
    if len(paragraph.split()) > MAX_WORDS:
        raise UnusableAnswer("paragraph too long")
    if not isinstance(step, str) or not step.strip() or len(step.split()) > MAX_WORDS:
        step = None
    return " ".join(paragraph.split()), " ".join(step.split()) if step else None


async def ask_llm(settings: LlmSettings, messages: List[Dict[str, str]]) -> Tuple[str, Optional[str]]:
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
    headers = {"Authorization": f"Bearer {settings.api_key}"}
    payload = {"model": settings.model, "messages": messages, "temperature": 0.2}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(f"{settings.url}/chat/completions", json=payload, headers=headers) as response:
            if response.status != 200:
                raise UnusableAnswer(f"HTTP {response.status}")
            return parse_answer(await response.text())


async def rewrite_with_llm(summary: HandoffSummary, display_name: Optional[str],
                           settings: LlmSettings) -> HandoffSummary:
    """`summary` with the LLM's paragraph and next step, or unchanged if the LLM fails."""
    try:
        paragraph, step = await ask_llm(settings, prompt_messages(summary, display_name))
    except (aiohttp.ClientError, asyncio.TimeoutError, UnusableAnswer) as error:
        logger.warning("handoff summary: LLM not used (%s: %s); deterministic summary kept",
                       error.__class__.__name__, error if isinstance(error, UnusableAnswer) else "request failed")
        return summary
    return dataclasses.replace(summary, paragraph=redact(paragraph), next_step=redact(step or summary.next_step),
                               generated_by="llm")
