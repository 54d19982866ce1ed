"""Loop protection: mail written by a program is recorded, never answered.

Two auto-responders answering each other fill both mailboxes in minutes, and answering a
bounce or a mailing list mails people who never wrote to us. The rules follow RFC 3834
(Auto-Submitted), RFC 3464 (delivery status), RFC 2369/2919 (lists) and the de-facto
headers of Exchange and common auto-responders.
"""
from __future__ import annotations

import re
from email.message import Message
from typing import Optional

AUTO_SUBMITTED_VALUE = "auto-replied"  # what we put on our own replies

_ROBOT_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|donotreply|nao-?responda|bounces?)([+.\-_].*)?@",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|autoreply|out of (the )?office|"
    r"resposta autom[aá]tica|fora do escrit[oó]rio|aus[eê]ncia|"
    r"undeliverable|undelivered mail|delivery status notification|"
    r"mail delivery (failed|failure|subsystem)|returned mail|"
    r"n[aã]o (foi poss[ií]vel )?entreg|falha na entrega|mensagem n[aã]o entregue)",
    re.IGNORECASE,
)


def robot_reason(msg: Message, sender: str) -> Optional[str]:
    """Why this mail comes from a program (the rule that matched), or None for a person."""
    auto_submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"auto-submitted: {auto_submitted}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id",
                   "List-Unsubscribe"):
        if msg.get(header) is not None:
            return f"header {header}"
    if not sender or _ROBOT_SENDERS.match(sender):
        return f"robot sender {sender or '(none)'}"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("", "<>"):
        return "empty return-path"
    if msg.get_content_type() == "multipart/report":
        return f"report: {msg.get_param('report-type', '')}"
    if _AUTO_SUBJECT.match(str(msg.get("Subject", ""))):
        return "auto-reply subject"
    return None
