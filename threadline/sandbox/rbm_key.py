"""A Google service account key file for the sandbox's RBM agent (`make run`, tests)."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SANDBOX_CLIENT_EMAIL = "threadline-sandbox@rbm-sandbox.iam.gserviceaccount.com"


def write_service_account(path: Path, token_uri: str) -> Path:
    """A service account key file in Google's format (a fresh RSA key), for the sandbox only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "rbm-sandbox", "private_key_id": secrets.token_hex(20),
        "private_key": pem, "client_email": SANDBOX_CLIENT_EMAIL, "client_id": "100000000000000000001",
        "token_uri": token_uri}))
    path.chmod(0o600)
    return path
