"""SmtpSender against aiosmtpd with real TLS: implicit TLS, STARTTLS + AUTH, no AUTH without a user."""
from __future__ import annotations

import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connectors.email.config import ServerSettings
from connectors.email.smtp import SmtpSender, SmtpSendFailed
from tests.support.redis_server import free_port


class Inbox:
    def __init__(self) -> None:
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((bool(session.authenticated), envelope.rcpt_tos))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"shop", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "shop@example.com"
    msg["To"] = "ana@example.com"
    msg["Subject"] = "Re: x"
    msg.set_content("ok")
    return msg


@pytest.fixture(scope="module")
def tls(dovecot):
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(dovecot.cert), str(dovecot.dir / "key.pem"))
    client = ssl.create_default_context(cafile=str(dovecot.cert))
    return server, client


@pytest.fixture
def starttls_server(tls):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=tls[0],
                            require_starttls=True, auth_required=True, authenticator=authenticator,
                            auth_exclude_mechanism=["LOGIN"])  # PLAIN only, as many servers
    controller.start()
    yield controller.port, inbox
    controller.stop()


async def test_starttls_with_auth(starttls_server, tls):
    port, inbox = starttls_server
    sender = SmtpSender(ServerSettings("127.0.0.1", port, "shop", "s3cret", "starttls"), tls_context=tls[1])
    await sender.send(message())
    assert inbox.received == [(True, ["ana@example.com"])]


async def test_wrong_password_is_a_permanent_failure(starttls_server, tls):
    port, inbox = starttls_server
    sender = SmtpSender(ServerSettings("127.0.0.1", port, "shop", "wrong", "starttls"), tls_context=tls[1],
                        timeout_s=10)
    with pytest.raises(SmtpSendFailed) as failure:
        await sender.send(message())
    assert failure.value.permanent and "535" in failure.value.reason
    assert inbox.received == []


async def test_no_user_means_no_auth(starttls_server, tls):
    port, inbox = starttls_server
    sender = SmtpSender(ServerSettings("127.0.0.1", port, "", "ignored", "starttls"), tls_context=tls[1])
    with pytest.raises(SmtpSendFailed) as failure:  # this server requires AUTH: 530
        await sender.send(message())
    assert "530" in failure.value.reason
    assert inbox.received == []


async def test_implicit_tls(tls):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=tls[0])
    controller.start()
    try:
        sender = SmtpSender(ServerSettings("127.0.0.1", controller.port, "", "", "ssl"), tls_context=tls[1])
        await sender.send(message())
    finally:
        controller.stop()
    assert inbox.received == [(False, ["ana@example.com"])]


async def test_unreachable_server_is_a_temporary_failure():
    sender = SmtpSender(ServerSettings("127.0.0.1", free_port(), "", "", "none"), timeout_s=5)
    with pytest.raises(SmtpSendFailed) as failure:
        await sender.send(message())
    assert not failure.value.permanent
