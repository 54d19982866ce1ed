"""EMAIL_* settings: disabled when absent, refused when partial or wrong, sensible ports."""
from __future__ import annotations

import pytest

from connectors.email.channel import EmailInput
from connectors.email.config import EmailSettings
from connectors.webhook.config import ChannelNotConfigured

ALL = ("EMAIL_ADDRESS", "EMAIL_IMAP_HOST", "EMAIL_IMAP_PORT", "EMAIL_IMAP_USER", "EMAIL_IMAP_PASSWORD",
       "EMAIL_IMAP_MAILBOX", "EMAIL_IMAP_SECURITY", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PORT", "EMAIL_SMTP_USER",
       "EMAIL_SMTP_PASSWORD", "EMAIL_SMTP_SECURITY", "EMAIL_MAILGUN_SIGNING_KEY", "EMAIL_AUTHSERV_ID")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ALL:
        monkeypatch.delenv(name, raising=False)


def test_unset_means_disabled():
    channel = EmailInput.from_credentials({"address": "", "imap_host": ""})
    assert channel.settings is None
    assert channel.state() == "disabled"  # its health route says so (503), not "starting"


def test_configured_channel_is_starting_until_its_inbox_opens(monkeypatch):
    for name, value in (("EMAIL_ADDRESS", "shop@example.com"), ("EMAIL_IMAP_HOST", "imap.example.com"),
                        ("EMAIL_SMTP_HOST", "smtp.example.com")):
        monkeypatch.setenv(name, value)
    assert EmailInput.from_credentials(None).state() == "starting"


def test_partial_configuration_is_refused(monkeypatch):
    monkeypatch.setenv("EMAIL_ADDRESS", "shop@example.com")
    with pytest.raises(ChannelNotConfigured, match="EMAIL_IMAP_HOST, EMAIL_SMTP_HOST"):
        EmailInput.from_credentials(None)


def test_defaults_from_environment(monkeypatch):
    monkeypatch.setenv("EMAIL_ADDRESS", "Shop@Example.com")
    monkeypatch.setenv("EMAIL_IMAP_HOST", "imap.example.com")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("EMAIL_SMTP_USER", "shop")
    settings = EmailSettings.from_credentials({"imap_port": ""})  # credentials.yml's empty ${VAR}
    assert settings.address == "shop@example.com"
    assert (settings.imap.port, settings.imap.security, settings.imap.user) == (993, "ssl", "shop@example.com")
    assert (settings.smtp.port, settings.smtp.security, settings.smtp.user) == (587, "starttls", "shop")
    assert settings.mailbox == "INBOX"


def test_bad_security_or_port_is_refused(monkeypatch):
    monkeypatch.setenv("EMAIL_ADDRESS", "shop@example.com")
    monkeypatch.setenv("EMAIL_IMAP_HOST", "imap.example.com")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("EMAIL_IMAP_SECURITY", "tls")
    with pytest.raises(ChannelNotConfigured, match="EMAIL_IMAP_SECURITY must be one of ssl, starttls, none"):
        EmailSettings.from_credentials(None)
    monkeypatch.setenv("EMAIL_IMAP_SECURITY", "starttls")
    monkeypatch.setenv("EMAIL_SMTP_PORT", "twenty-five")
    with pytest.raises(ChannelNotConfigured, match="EMAIL_SMTP_PORT must be a port number"):
        EmailSettings.from_credentials(None)


def test_clear_text_to_a_remote_server_is_refused(monkeypatch):
    monkeypatch.setenv("EMAIL_ADDRESS", "shop@example.com")
    monkeypatch.setenv("EMAIL_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "192.0.2.10")
    monkeypatch.setenv("EMAIL_IMAP_SECURITY", "none")
    monkeypatch.setenv("EMAIL_SMTP_SECURITY", "none")
    with pytest.raises(ChannelNotConfigured, match="EMAIL_SMTP_SECURITY=none is only for a server on loopback"):
        EmailSettings.from_credentials(None)
    monkeypatch.setenv("EMAIL_SMTP_HOST", "localhost")
    assert EmailSettings.from_credentials(None).smtp.security == "none"  # loopback: tests, local relays


def test_mailgun_only_needs_no_imap(monkeypatch):
    monkeypatch.setenv("EMAIL_ADDRESS", "shop@example.com")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("EMAIL_MAILGUN_SIGNING_KEY", "key-1")
    settings = EmailSettings.from_credentials(None)
    assert settings.imap is None and settings.mailgun_signing_key == "key-1"


def test_trusted_authserv_ids_come_from_email_authserv_id(monkeypatch):
    for name, value in (("EMAIL_ADDRESS", "shop@example.com"), ("EMAIL_IMAP_HOST", "imap.example.com"),
                        ("EMAIL_SMTP_HOST", "smtp.example.com")):
        monkeypatch.setenv(name, value)
    assert EmailSettings.from_credentials(None).authserv_ids == frozenset()  # unset: nobody is trusted
    monkeypatch.setenv("EMAIL_AUTHSERV_ID", " MX.Google.com, exchange-online ,")
    assert EmailSettings.from_credentials(None).authserv_ids == {"mx.google.com", "exchange-online"}
