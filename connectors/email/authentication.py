"""Did our own receiving server vouch for a mail's From address? (RFC 8601 Authentication-Results)

Anyone can write `From: ana@example.com`, and anyone can write an `Authentication-Results`
header too. Only the headers whose authserv-id (the first token) names one of *our* receiving
servers (`EMAIL_AUTHSERV_ID`) are read; every other one is ignored. Receiving servers prepend
their header, so the topmost trusted header that reports a method (dkim, dmarc) is the one that
counts for that method: a forged copy further down cannot override it.

A mail is written by its From address when that trusted verdict is
- `dmarc=pass`, with `header.from` (when given) equal to the From domain, or
- `dkim=pass` for a signing domain (`header.d`, or the domain of `header.i`) aligned with the
  From domain: equal, or one a subdomain of the other (DMARC's relaxed alignment, without a
  public-suffix list; a bare top-level domain never aligns).

The parser is linear in the header's length (one pass for comments, one split, one regex
scan with no nested repetition), so hostile headers cost little.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Collection, Dict, Iterable, List, Optional

MAX_HEADER_CHARS = 16_384  # a real Authentication-Results is well under 2 KB; a longer one is ignored

# A quoted string, `=`, `/`, or a word. No alternative can backtrack over another's text, so a
# scan is linear however long the runs of letters, tabs or quotes.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[=/]|[^\s=/"]+')


@dataclass
class MethodResult:
    method: str  # "dkim", "dmarc", "spf", ...
    result: str  # "pass", "fail", "none", ...
    properties: Dict[str, str] = field(default_factory=dict)  # "header.d" → "example.com"


@dataclass
class AuthenticationResults:
    authserv_id: str
    results: List[MethodResult]


def _without_comments(text: str) -> str:
    """CFWS comments `( … )` (nested, with quoted pairs) removed; quoted strings kept."""
    out: List[str] = []
    depth = 0
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def _split_semicolons(text: str) -> List[str]:
    """Split at `;` outside quoted strings."""
    parts, start, quoted, escaped = [], 0, False, False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _pairs(tokens: List[str]) -> List[tuple]:
    """`key = value` pairs, in order; `method/version = result` keeps the method only."""
    pairs, i = [], 0
    while i + 2 < len(tokens):
        if tokens[i + 1] == "/" and i + 4 < len(tokens) and tokens[i + 3] == "=":
            pairs.append((tokens[i], tokens[i + 4]))
            i += 5
        elif tokens[i + 1] == "=" and tokens[i] not in ("=", "/"):
            pairs.append((tokens[i], tokens[i + 2]))
            i += 3
        else:
            i += 1
    return pairs


def parse_authentication_results(value: str) -> Optional[AuthenticationResults]:
    """One header's value; None when it has no authserv-id or is too long to be real."""
    value = str(value)
    if len(value) > MAX_HEADER_CHARS:
        return None  # cutting it could change what it says
    parts = _split_semicolons(_without_comments(value))
    head = parts[0].split()
    if not head:
        return None
    results = []
    for part in parts[1:]:
        pairs = _pairs(_TOKEN.findall(part))
        if not pairs:
            continue  # "none", or noise
        (method, result), rest = pairs[0], pairs[1:]
        properties = {key.lower(): _unquote(val).lower() for key, val in rest if "." in key}
        results.append(MethodResult(method.lower(), _unquote(result).lower(), properties))
    return AuthenticationResults(_unquote(head[0]).lower(), results)


def parse_authserv_ids(raw: str) -> frozenset:
    """`EMAIL_AUTHSERV_ID`: comma-separated authserv-ids, compared case-insensitively."""
    return frozenset(part.strip().lower() for part in (raw or "").split(",") if part.strip())


def aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other (never a bare TLD)."""
    signer, from_domain = signer.strip(".").lower(), from_domain.strip(".").lower()
    if not signer or not from_domain:
        return False
    if signer == from_domain:
        return True
    shorter, longer = sorted((signer, from_domain), key=len)
    return "." in shorter and longer.endswith("." + shorter)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2]


def _vouches(result: MethodResult, from_domain: str) -> bool:
    if result.result != "pass":
        return False
    if result.method == "dmarc":
        header_from = result.properties.get("header.from")
        return header_from is None or header_from == from_domain
    if result.method == "dkim":
        signer = result.properties.get("header.d") or _domain_of(result.properties.get("header.i", ""))
        return aligned(signer, from_domain)
    return False


def from_is_authenticated(headers: Iterable[str], sender: str, trusted_authserv_ids: Collection[str]) -> bool:
    """Whether a trusted Authentication-Results header says the From address wrote this mail.

    `headers`: the mail's Authentication-Results values, topmost first (as `get_all` gives them)."""
    from_domain = _domain_of(sender).lower()
    if not trusted_authserv_ids or not from_domain:
        return False
    decided: Dict[str, List[MethodResult]] = {}  # method → the topmost trusted header's results
    for value in headers:
        parsed = parse_authentication_results(value)
        if parsed is None or parsed.authserv_id not in trusted_authserv_ids:
            continue
        reported: Dict[str, List[MethodResult]] = {}
        for result in parsed.results:
            reported.setdefault(result.method, []).append(result)
        for method, results in reported.items():
            decided.setdefault(method, results)
    return any(_vouches(result, from_domain)
               for method in ("dmarc", "dkim") for result in decided.get(method, []))
