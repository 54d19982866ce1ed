"""Did our own receiving server vouch for a mail's From address? (RFC 8601 Authentication-Results)

Anyone can write `From: ana@example.com`, and anyone can write an `Authentication-Results`
header too. Only the headers whose authserv-id (the first token) names one of *our* receiving
servers (`EMAIL_AUTHSERV_ID`) are read; every other one is ignored. Receiving servers prepend
their header, so the topmost trusted header that reports a method (dkim, dmarc) is the one that
counts for that method: a forged copy further down cannot override it. Exchange Online writes
its header without an authserv-id; `exchange-online` in EMAIL_AUTHSERV_ID believes the topmost
header when it has none (docs/email.md, "Who wrote this mail").

A mail is written by its From address when that trusted verdict is
- `dmarc=pass`, with `header.from` (when given) equal to the From domain, or
- `dkim=pass` for a signing domain (`header.d`, or the domain of `header.i`) aligned with the
  From domain: equal, or one a subdomain of the other (DMARC's relaxed alignment, without a
  public-suffix list; a bare top-level domain never aligns).

A header that opens with a comment is not believed: RFC 8601 allows it, no receiving server
writes it. Parsing is linear in a header's length (the scan jumps between special characters; no regex can
backtrack), headers are capped in length and number, so hostile headers cost little.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Collection, Dict, Iterable, List, Optional

MAX_HEADER_CHARS = 4096  # a real Authentication-Results is well under 2 KB; a longer one is ignored
MAX_HEADERS = 8  # ours are the topmost; the ones below these (older, or forged) are not read
# In EMAIL_AUTHSERV_ID: believe the topmost header when it has no authserv-id (Exchange Online).
EXCHANGE_ONLINE = "exchange-online"

_PROPERTIES = frozenset({"header.d", "header.i", "header.from"})  # the ones a verdict reads
# The first word when no comment precedes it, and the `=` or `/` after it when it is a method.
_FIRST_TOKEN = re.compile(r'\s*([^\s;()"\\=/]+)\s*([=/]?)')
# A quoted string (to its closing quote, or to the end: it never fails, so never backtracks),
# `=`, `/`, or a word. The scan is linear however long the runs of letters, tabs or quotes.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.?)*(?:"|$)|[=/]|[^\s=/"]+')


@dataclass
class MethodResult:
    method: str  # "dkim", "dmarc", "spf", ...
    result: str  # "pass", "fail", "none", ...
    properties: Dict[str, str] = field(default_factory=dict)  # of _PROPERTIES: "header.d" → "example.com"


@dataclass
class AuthenticationResults:
    authserv_id: str
    results: List[MethodResult]


_SPECIAL = {  # the characters that matter in each state; everything between is skipped by `re`
    "text": re.compile(r'[\\"(;]'), "comment": re.compile(r"[\\()]"),
}
# The rest of a quoted string after its opening quote (to the end if unclosed: never fails).
_QUOTED_REST = re.compile(r'(?:[^"\\]|\\.?)*(?:"|$)')


def _clauses(text: str) -> List[str]:
    """The header split at `;` outside quoted strings, with CFWS comments `( … )` (nested, with
    quoted pairs) removed. Work is proportional to the number of special characters."""
    clauses: List[str] = []
    current: List[str] = []
    state, depth, position = "text", 0, 0
    while True:
        found = _SPECIAL[state].search(text, position)
        end = found.start() if found else len(text)
        if state != "comment":
            current.append(text[position:end])
        if found is None:
            break
        char, position = found.group(), end + 1
        if char == "\\":
            if state != "comment":
                current.append(text[end:end + 2])
            position = end + 2
        elif state == "comment":
            depth += 1 if char == "(" else -1
            state = "comment" if depth else "text"
        elif char == '"':
            rest = _QUOTED_REST.match(text, position)
            current.append(char + rest.group())
            position = rest.end()
        elif char == "(":
            state, depth = "comment", 1
        else:  # ";"
            clauses.append("".join(current))
            current = []
    clauses.append("".join(current))
    return clauses


def _unquote(value: str) -> str:
    # Escapes stay as written: no domain or authserv-id has one, so an escaped value never matches.
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


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
    """One header's value; None when it is empty or too long to be real. A header that opens
    with `method=result` (Exchange Online's) has the authserv-id ""."""
    value = str(value)
    if len(value) > MAX_HEADER_CHARS:
        return None  # cutting it could change what it says
    clauses = [_TOKEN.findall(clause) for clause in _clauses(value)]
    head = clauses[0]
    if not head:
        return None
    authserv_id = ""
    if len(head) < 2 or head[1] not in ("=", "/"):
        authserv_id, clauses = _unquote(head[0]).lower(), clauses[1:]
    results = []
    for tokens in clauses:
        pairs = _pairs(tokens)
        if not pairs:
            continue  # "none", or noise (Exchange Online writes stray domains between clauses)
        (method, result), rest = pairs[0], pairs[1:]
        properties = {key.lower(): _unquote(val).lower() for key, val in rest if key.lower() in _PROPERTIES}
        results.append(MethodResult(method.lower(), result.lower(), properties))
    return AuthenticationResults(authserv_id, results)


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


def _trusted(parsed: AuthenticationResults, position: int, trusted_authserv_ids: Collection[str]) -> bool:
    if parsed.authserv_id == "":
        # Exchange Online stamps no authserv-id; it prepends its header above everything the
        # sender wrote, so only the topmost header may be believed, and only when asked to.
        return position == 0 and EXCHANGE_ONLINE in trusted_authserv_ids
    return parsed.authserv_id in trusted_authserv_ids and parsed.authserv_id != EXCHANGE_ONLINE


def from_is_authenticated(headers: Iterable[str], sender: str, trusted_authserv_ids: Collection[str]) -> bool:
    """Whether a trusted Authentication-Results header says the From address wrote this mail.

    `headers`: the mail's Authentication-Results values in header order (topmost first)."""
    from_domain = _domain_of(sender).lower()
    if not trusted_authserv_ids or not from_domain:
        return False
    decided: Dict[str, List[MethodResult]] = {}  # method → the topmost trusted header's results
    for position, value in enumerate(itertools.islice(headers, MAX_HEADERS)):
        if len(value) > MAX_HEADER_CHARS:
            continue  # cutting it could change what it says
        first = _FIRST_TOKEN.match(value)
        if first is None:
            continue  # opens with a comment: no receiving server writes that, so nobody we trust
        if position and not first.group(2) and first.group(1).lower() not in trusted_authserv_ids:
            continue  # someone else's header: not worth parsing
        parsed = parse_authentication_results(value)
        if parsed is None or not _trusted(parsed, position, trusted_authserv_ids):
            continue
        reported: Dict[str, List[MethodResult]] = {}
        for result in parsed.results:
            reported.setdefault(result.method, []).append(result)
        for method, results in reported.items():
            decided.setdefault(method, results)
        if "dmarc" in decided and "dkim" in decided:
            break  # nothing further down can change the verdict
    return any(_vouches(result, from_domain)
               for method in ("dmarc", "dkim") for result in decided.get(method, []))
