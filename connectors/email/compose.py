"""Our replies: one mail per bot turn, threaded, marked as automatic, text plus simple HTML.

Buttons become a short numbered list; the customer answers with the number or the words
(`Offer.chosen`, connectors/webhook/offers.py). A part with `links` (the CSAT question's signed
rating links, connectors/email/csat_links.py) makes each option a link too, under its title in
the text part and on it in the HTML part. The mail's own words (greeting, sign-off, the
hint under the options, the subject of a new thread) are said in the turn's language
(`turn_language`; English when unknown). A business that sets its own words in credentials.yml
gets them as written when the catalogue does not know them. Pure functions: no I/O here.
"""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from typing import Dict, List, Optional

from connectors.email.robots import AUTO_SUBMITTED_VALUE
from connectors.email.state import ThreadParent
from threadline.i18n import N_, Texts, texts_for

MAX_REFERENCES = 20  # long threads: keep the first and the latest ids (RFC 5322 §3.6.4)
_REPLY_PREFIX = re.compile(r"^\s*((re|res|aw|sv|fwd?|enc|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass
class Part:
    """One bot message of the turn."""
    text: str = ""
    buttons: List[Dict[str, str]] = field(default_factory=list)
    image: Optional[str] = None
    language: Optional[str] = None  # "pt", "en"; None when the message did not say
    links: List[str] = field(default_factory=list)  # one per button, when its option is also a link


@dataclass(frozen=True)
class Style:
    from_name: str = "Customer service"  # the From name: the same in every language of a thread
    greeting: str = N_("Hello{name},")
    sign_off: str = N_("Best regards,\nThe support team")
    choose_hint: str = N_("Reply with the number or the words of your choice.")
    link_hint: str = N_("Click your choice, or reply with its number.")
    default_subject: str = N_("Your message")

    def said_in(self, texts: Texts) -> "Style":
        """These words in the catalogue's language (words it does not know stay as they are)."""
        return Style(**{name: value if name == "from_name" else texts.gettext(value)
                        for name, value in dataclasses.asdict(self).items()})


def turn_language(parts: List[Part], customer_language: Optional[str] = None) -> Optional[str]:
    """The first language a message of the turn names, else the customer's."""
    return next((part.language for part in parts if part.language), customer_language)


def reply_subject(subject: str, default: str) -> str:
    """"Re: " exactly once, whatever the customer's client put in front."""
    bare = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {bare or default}"


def reply_references(parent: ThreadParent) -> List[str]:
    chain = [*parent.references, parent.message_id]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1):]]
    return chain


def _plain(parts: List[Part], greeting: str, style: Style) -> str:
    blocks = [greeting]
    number = 0
    for part in parts:
        if part.text:
            blocks.append(part.text.strip())
        if part.buttons:
            lines = []
            for i, button in enumerate(part.buttons):
                number += 1
                lines.append(f"{number}. {button.get('title', '')}")
                if i < len(part.links):
                    lines.append(f"   {part.links[i]}")
            blocks.append("\n".join(lines))
        if part.image:
            blocks.append(part.image)
    if number:
        blocks.append(_hint(parts, style))
    blocks.append(style.sign_off)
    return "\n\n".join(blocks) + "\n"


def _hint(parts: List[Part], style: Style) -> str:
    return style.link_hint if any(part.links for part in parts) else style.choose_hint


def _html_option(title: str, link: Optional[str]) -> str:
    if link is None:
        return f"<li>{html.escape(title)}</li>"
    return f'<li><a href="{html.escape(link, quote=True)}">{html.escape(title)}</a></li>'


def _html(parts: List[Part], greeting: str, style: Style) -> str:
    out = [f"<p>{html.escape(greeting)}</p>"]
    number = 0
    for part in parts:
        if part.text:
            out.append("<p>" + html.escape(part.text.strip()).replace("\n", "<br>") + "</p>")
        if part.buttons:
            items = "".join(_html_option(b.get("title", ""), part.links[i] if i < len(part.links) else None)
                            for i, b in enumerate(part.buttons))
            out.append(f'<ol start="{number + 1}">{items}</ol>')
            number += len(part.buttons)
        if part.image:
            url = html.escape(part.image, quote=True)
            out.append(f'<p><a href="{url}">{url}</a></p>')
    if number:
        out.append(f"<p>{html.escape(_hint(parts, style))}</p>")
    out.append("<p>" + html.escape(style.sign_off).replace("\n", "<br>") + "</p>")
    return "<!DOCTYPE html><html><body>" + "".join(out) + "</body></html>"


def build_reply(*, sender: str, sender_name: str, to: str, to_name: Optional[str],
                parts: List[Part], parent: Optional[ThreadParent], style: Style = Style(),
                language: Optional[str] = None) -> EmailMessage:
    """The mail of one turn; `language` the customer's, for its own words when no part names one."""
    style = style.said_in(texts_for(turn_language(parts, language)))
    first_name = (to_name or "").split()[0] if (to_name or "").strip() else ""
    greeting = style.greeting.format(name=f" {first_name}" if first_name else "")
    msg = EmailMessage()
    msg["From"] = Address(display_name=sender_name, addr_spec=sender)
    msg["To"] = Address(display_name=to_name or "", addr_spec=to)
    msg["Subject"] = reply_subject(parent.subject if parent else "", style.default_subject)
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if parent and parent.message_id:
        msg["In-Reply-To"] = parent.message_id
        msg["References"] = " ".join(reply_references(parent))
    # RFC 3834: tells well-behaved auto-responders not to answer us (no mail loops).
    msg["Auto-Submitted"] = AUTO_SUBMITTED_VALUE
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(_plain(parts, greeting, style))
    msg.add_alternative(_html(parts, greeting, style), subtype="html")
    return msg
