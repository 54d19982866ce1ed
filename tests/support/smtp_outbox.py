"""A real SMTP server for tests (aiosmtpd in the test process) that keeps every mail it accepts."""
from __future__ import annotations

import contextlib
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Iterator, List, Tuple

from aiosmtpd.controller import Controller

from tests.support.redis_server import free_port


class SmtpOutbox:
    """aiosmtpd handler: each accepted mail, parsed, with its envelope recipients in X-Envelope-To."""

    def __init__(self) -> None:
        self.messages: List[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@contextlib.contextmanager
def smtp_outbox() -> Iterator[Tuple[Controller, SmtpOutbox]]:
    """An SMTP server on a free loopback port: (controller, outbox); stopped afterwards."""
    outbox = SmtpOutbox()
    controller = Controller(outbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, outbox
    finally:
        controller.stop()
