"""Webhook signatures, checked on the raw request bytes in constant time."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Mapping, Optional

from twilio.request_validator import RequestValidator

META_HEADER = "X-Hub-Signature-256"
TWILIO_HEADER = "X-Twilio-Signature"
RBM_HEADER = "X-Goog-Signature"


def meta_signature(app_secret: str, raw_body: bytes) -> str:
    """`X-Hub-Signature-256` value Meta sends for `raw_body` (WhatsApp and Instagram)."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def meta_signature_valid(app_secret: str, raw_body: bytes, header: Optional[str]) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(meta_signature(app_secret, raw_body).encode(), header.strip().encode())


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """`X-Twilio-Signature` for a form POST, as Twilio computes it."""
    return RequestValidator(auth_token).compute_signature(url, params)


def twilio_signature_valid(
    auth_token: str, url: str, params: Mapping[str, str], header: Optional[str]
) -> bool:
    """twilio-python's own check (constant time, with/without port variants of `url`)."""
    if not header or not auth_token:
        return False
    # `params` may be a multi-dict (Sanic's request.form): twilio reads every value.
    return RequestValidator(auth_token).validate(url, params, header)


def rbm_signature(client_token: str, data: bytes) -> str:
    """`X-Goog-Signature` Google RBM sends: base64(HMAC-SHA512(client token, the base64-decoded
    `message.data` of the Pub/Sub push body))."""
    return base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest()).decode()


def rbm_signature_valid(client_token: str, data: bytes, header: Optional[str]) -> bool:
    if not header or not client_token:
        return False
    return hmac.compare_digest(rbm_signature(client_token, data).encode(), header.strip().encode())
