"""Sending over SMTP with aiosmtplib: implicit TLS, STARTTLS or none; AUTH only with a user."""
from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Optional

import aiosmtplib

from connectors.email.config import ServerSettings


class SmtpSendFailed(Exception):
    def __init__(self, permanent: bool, reason: str) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.reason = reason


class SmtpSender:
    def __init__(self, server: ServerSettings, *, tls_context: Optional[ssl.SSLContext] = None,
                 timeout_s: float = 30) -> None:
        self.server = server
        self.tls_context = tls_context
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        """Hand the message to the server; `SmtpSendFailed.permanent` for 5xx answers."""
        server = self.server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                use_tls=server.security == "ssl",
                start_tls=True if server.security == "starttls" else False,
                username=server.user or None,
                password=server.password if server.user else None,
                tls_context=self.tls_context,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise SmtpSendFailed(True, f"recipient refused: {error}") from error
        except aiosmtplib.SMTPResponseException as error:
            raise SmtpSendFailed(500 <= error.code < 600, f"SMTP {error.code}: {error.message}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise SmtpSendFailed(False, f"{type(error).__name__}: {error}") from error
