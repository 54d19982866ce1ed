"""Authentication-Results as an attacker writes them: forged, misaligned, or built to be slow.

Only the shop's receiving servers (EMAIL_AUTHSERV_ID) are believed, only their topmost verdict
counts, and a 1 MB header of any shape is judged (unverified) in well under a second."""
from __future__ import annotations

import time
from email import message_from_bytes, policy

import pytest

from connectors.email.authentication import from_is_authenticated
from connectors.email.message import authenticated

MX = "mx.shop.example"
GOOGLE = "mx.google.com"
EXCHANGE = ("spf=pass (sender IP is 209.85.222.48) smtp.mailfrom=example.com; dkim=pass (signature was "
            "verified) header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100")


def vouched(headers, sender="ana@example.com", trusted=(MX,)) -> bool:
    return from_is_authenticated(headers, sender, frozenset(trusted))


@pytest.mark.parametrize("headers,trusted", [
    pytest.param([f"{MX}; dmarc=pass header.from=example.com"], (MX,), id="dmarc-pass"),
    pytest.param([f"{MX}; dkim=pass header.d=mail.example.com; dmarc=none"], (MX,), id="dkim-pass-subdomain"),
    pytest.param([f"{MX}; dkim=pass header.i=@example.com"], (MX,), id="dkim-pass-header-i"),
    pytest.param([f"{GOOGLE}; dkim=pass header.i=@example.com header.s=s1 header.b=Ax3; spf=pass (google.com: "
                  "domain of ana@example.com designates 192.0.2.1 as permitted sender) smtp.mailfrom=ana@example.com; "
                  "dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"], (GOOGLE,), id="gmail"),
    pytest.param([f"{MX} 1; (checked) dkim/1 = pass header.d=\"example.com\""], (MX,), id="version-and-quotes"),
    pytest.param([EXCHANGE], ("exchange-online",), id="exchange-online-topmost"),
    pytest.param([f"{MX}; dkim=pass header.d=example.com", f"{MX}; dmarc=pass header.from=example.com"], (MX,),
                 id="opendkim-and-opendmarc-headers"),
])
def test_our_servers_verdict_is_believed(headers, trusted):
    assert vouched(headers, trusted=trusted)


@pytest.mark.parametrize("headers,trusted", [
    pytest.param([f"mx.evil.example; dmarc=pass header.from=example.com"], (MX,), id="untrusted-authserv-id"),
    pytest.param([f"{MX}; dmarc=pass header.from=evil.example"], (MX,), id="dmarc-pass-other-domain"),
    pytest.param([f"{MX}; dkim=pass header.d=evil.example; dmarc=fail"], (MX,), id="dkim-unaligned"),
    pytest.param([f"{MX}; dkim=pass header.d=com"], (MX,), id="dkim-bare-tld"),
    pytest.param([f"{MX}; dkim=pass header.d=example.com.evil.example"], (MX,), id="dkim-lookalike"),
    pytest.param([f"{MX}; spf=pass smtp.mailfrom=example.com"], (MX,), id="spf-alone"),
    pytest.param([f"{MX}; dmarc=bestguesspass header.from=example.com"], (MX,), id="not-quite-pass"),
    pytest.param([f"{MX}; dmarc=fail (dmarc=pass) header.from=example.com"], (MX,), id="pass-in-a-comment"),
    pytest.param([f"{MX}; dmarc=fail reason=\"; dmarc=pass\""], (MX,), id="pass-in-a-quoted-string"),
    pytest.param([f"(ours) {MX}; dmarc=pass header.from=example.com"], (MX,), id="comment-before-authserv-id"),
    pytest.param([f"{MX}; dkim=pass header.d=\"ex\\ample.com\""], (MX,), id="escaped-domain"),
    pytest.param([f"{MX}; dmarc=fail header.from=example.com; dkim=fail header.d=example.com",
                  f"{MX}; dmarc=pass header.from=example.com; dkim=pass header.d=example.com"], (MX,),
                 id="forged-copy-below-ours"),
    pytest.param([EXCHANGE], (MX,), id="id-less-header-not-asked-for"),
    pytest.param([f"{MX}; spf=none", EXCHANGE], ("exchange-online", MX), id="id-less-header-not-topmost"),
    pytest.param(["exchange-online; dmarc=pass header.from=example.com"], ("exchange-online",),
                 id="sentinel-is-no-authserv-id"),
    pytest.param([f"{MX}; dmarc=pass header.from=example.com"], (), id="nothing-trusted"),
    pytest.param([f"{MX}; dmarc=pass " + "x" * 5000], (MX,), id="oversized-header"),
])
def test_anything_else_is_not(headers, trusted):
    assert not vouched(headers, trusted=trusted)


def test_a_lookalike_from_domain_is_not_the_signers():
    assert not vouched([f"{MX}; dmarc=pass header.from=example.com"], sender="ana@example.com.evil.example")


MEGABYTE = 1_000_000
HOSTILE_HEADERS = {
    "one huge header": b"Authentication-Results: " + MX.encode() + b"; " + b"dkim=pass header.d=example.com; " * 32_000,
    "long folding": b"Authentication-Results: " + MX.encode() + b";" + b"\r\n\tdkim=fail" * 84_000,
    "tab run": b"Authentication-Results: " + MX.encode() + b"; dmarc=" + b"\t" * MEGABYTE,
    "nested comments": b"\r\n".join([b"Authentication-Results: " + b"(" * 4000] * 250),
    "comments in our header": b"\r\n".join(
        [b"Authentication-Results: " + MX.encode() + b"; dmarc=fail " + b"(()" * 1300] * 256),
    "escaped quotes": b"\r\n".join([b"Authentication-Results: " + MX.encode() + b"; x=\"" + b"\\\"" * 2000] * 250),
    "many forged": b"Authentication-Results: " + MX.encode() + b"; dkim=fail\r\n" * 77_000,
}


@pytest.mark.parametrize("name", list(HOSTILE_HEADERS))
def test_a_megabyte_of_hostile_authentication_results_is_judged_in_under_a_second(name):
    raw = (HOSTILE_HEADERS[name] + b"\r\nFrom: ana@example.com\r\nTo: shop@example.com\r\nSubject: oi\r\n\r\noi\r\n")
    assert len(raw) >= MEGABYTE
    msg = message_from_bytes(raw, policy=policy.default)  # parsing the mail itself: connectors/email/message.py
    started = time.perf_counter()
    verdict = authenticated(msg, "ana@example.com", {MX})
    elapsed = time.perf_counter() - started
    assert verdict is False
    assert elapsed < 1.0, f"{name}: {elapsed:.3f} s"
