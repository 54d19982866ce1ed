"""Adversarial mail of about 1 MB each, for tests/security/test_hostile_mail.py and
`make bench-hostile-mail`: every shape that made a parser step quadratic or recursive."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from connectors.email.message import UnparseableMail, parse_email

SIZE = 1_000_000
HEAD = b"From: Ana <ana@example.com>\r\nTo: shop@example.com\r\nSubject: oi\r\nMessage-ID: <h@x>\r\n"


def _fill(unit: bytes, size: int = SIZE) -> bytes:
    return unit * (size // len(unit))


def _mail(body: bytes, content_type: bytes = b"text/plain; charset=utf-8", headers: bytes = b"") -> bytes:
    return HEAD + headers + b"MIME-Version: 1.0\r\nContent-Type: " + content_type + b"\r\n\r\n" + body


def _nested_mime(levels: int, leaf: bytes = b"hello\r\n") -> bytes:
    opening = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
                       for i in range(levels))
    return _mail(opening + b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % levels + leaf,
                 b"multipart/mixed; boundary=b0")


def _attachments(count: int) -> bytes:
    part = b"--z\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.bin\r\n\r\n"
    filler = b"A" * max(0, SIZE // count - len(part) - 2) + b"\r\n"
    return _mail((part + filler) * count + b"--z--\r\n", b"multipart/mixed; boundary=z")


def _from(size: int) -> bytes:
    addresses = b"From: " + _fill(b"a@b.com,\r\n ", size) + b"c@d.com"
    return HEAD.replace(b"From: Ana <ana@example.com>", addresses) + b"\r\nhi"


CASES: Dict[str, Callable[[], bytes]] = {
    "crlf_in_display_name": lambda: HEAD.replace(b"From: Ana", b"From: =?utf-8?q?Ana=0D=0ABcc=3A_x?=") + b"\r\nhi\r\n",
    "nested_blockquote_html": lambda: _mail(_fill(b"<blockquote>x"), b"text/html; charset=utf-8"),
    "nested_div_html": lambda: _mail(_fill(b"<div>"), b"text/html; charset=utf-8"),
    "unterminated_comments_html": lambda: _mail(_fill(b"<!--"), b"text/html; charset=utf-8"),
    "stray_lt_html": lambda: _mail(_fill(b"</"), b"text/html; charset=utf-8"),
    "tab_run": lambda: _mail(_fill(b"\t") + b"x"),
    "tab_lines": lambda: _mail(_fill(b"\t" * 998 + b"x\n")),
    "separator_then_tabs": lambda: _mail(b"--- Original Message" + _fill(b"\t") + b"x"),
    "attribution_lines": lambda: _mail(_fill(b"On Monday\n")),
    "long_header_folding": lambda: HEAD + b"Subject: " + _fill(b"a\r\n ") + b"\r\n\r\nhi",
    "folded_header_under_cap": lambda: HEAD + b"X-Note: " + _fill(b"a\r\n ", 90_000) + b"\r\n\r\nhi",
    "address_list_under_cap": lambda: _from(4000),
    "long_address_list": lambda: _from(90_000),
    "deep_mime_nesting": lambda: _nested_mime(SIZE // 56),
    "mime_nesting_with_lines": lambda: _nested_mime(5, _fill(b"x\r\n", SIZE - 500)),
    "mime_nesting_under_cap": lambda: _nested_mime(5, b"x\r\n" * 140_000),
    "huge_single_line": lambda: _mail(_fill(b"x")),
    "many_attachments": lambda: _attachments(SIZE // 100),
    "attachments_under_cap": lambda: _attachments(200),
    "deep_json_text": lambda: _mail(_fill(b"{\"a\":[")),
    "encoded_words_subject": lambda: HEAD.replace(b"Subject: oi", b"Subject: " + _fill(b"=?utf-8?q?=C3=A1?= ")) + b"\r\nhi",
    "encoded_words_under_cap": lambda: HEAD.replace(b"Subject: oi", b"Subject: " + _fill(b"=?utf-8?q?=C3=A1?= ", 16_000)) + b"\r\nhi",
    "rfc2231_filename_pieces": lambda: _mail(b"--z\r\nContent-Disposition: attachment; "
                                             + b"".join(b"filename*%d*=a; " % i for i in range(SIZE // 16))
                                             + b"\r\n\r\nx\r\n--z--\r\n", b"multipart/mixed; boundary=z"),
    "message_rfc822_nesting": lambda: _mail(_fill(b"Content-Type: message/rfc822\r\n\r\n"), b"message/rfc822"),
    "message_rfc822_deep_short": lambda: _mail(b"Content-Type: message/rfc822\r\n\r\n" * 300 + b"From: x@y\r\n\r\nhi\r\n",
                                               b"message/rfc822"),
    "broken_base64": lambda: _mail(_fill(b"!!!!====\r\n"), b"text/plain; charset=utf-8",
                                   b"Content-Transfer-Encoding: base64\r\n"),
    "utf7_body": lambda: _mail(_fill(b"+AOkA6QDp-"), b"text/plain; charset=utf-7"),
}


@dataclass
class Outcome:
    case: str
    wall_s: float
    cpu_s: float
    refused: Optional[str]   # the quarantine reason, or None when parsed
    text_chars: int          # full_text + new_text of a parsed mail


def measure(case: str) -> Outcome:
    raw = CASES[case]()
    wall, cpu = time.perf_counter(), time.process_time()
    refused, chars = None, 0
    try:
        mail = parse_email(raw)
        chars = len(mail.full_text) + len(mail.new_text)
    except UnparseableMail as error:
        refused = error.reason
    return Outcome(case, time.perf_counter() - wall, time.process_time() - cpu, refused, chars)
