"""Fail closed, and which channels `make run` puts on the sandbox."""
from __future__ import annotations

import pytest

from connectors.instagram import InstagramInput
from connectors.sms import SmsInput
from connectors.webhook.config import ChannelNotConfigured
from connectors.whatsapp import WhatsAppInput
from threadline.sandbox.config import ALL_CHANNEL_VARS, sandbox_env, sandboxed_channels


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SANDBOX", "THREADLINE_SANDBOX_CHANNELS", "THREADLINE_ENV", *ALL_CHANNEL_VARS):
        monkeypatch.delenv(name, raising=False)


def test_channel_with_credentials_but_no_secret_refuses_to_start(monkeypatch):
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG-real-token")
    with pytest.raises(ChannelNotConfigured, match="WHATSAPP_APP_SECRET"):
        WhatsAppInput.from_credentials(None)
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "IGQ-real")
    with pytest.raises(ChannelNotConfigured, match="INSTAGRAM_APP_SECRET"):
        InstagramInput.from_credentials(None)


def test_twilio_needs_its_public_url_and_token_outside_the_sandbox(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    with pytest.raises(ChannelNotConfigured, match="TWILIO_WEBHOOK_URL"):
        SmsInput.from_credentials(None)
    monkeypatch.setenv("TWILIO_WEBHOOK_URL", "https://example.com/webhooks/sms/webhook")
    with pytest.raises(ChannelNotConfigured, match="TWILIO_AUTH_TOKEN"):
        SmsInput.from_credentials(None)


def test_sandbox_0_switches_channels_without_variables_off(monkeypatch):
    monkeypatch.setenv("SANDBOX", "0")
    channel = WhatsAppInput.from_credentials(None)
    assert not channel.enabled() and not channel.sandbox and channel.state() == "disabled"


def test_without_credentials_the_channel_runs_in_sandbox_mode():
    channel = WhatsAppInput.from_credentials(None)
    assert channel.sandbox and channel.app_secret  # generated, known to nobody else


def test_make_run_sandboxes_only_channels_without_credentials():
    env = {"WHATSAPP_ACCESS_TOKEN": "EAAG-real", "WHATSAPP_APP_SECRET": "s3cret",
           "WHATSAPP_VERIFY_TOKEN": "verify", "WHATSAPP_PHONE_NUMBER_ID": "1234"}
    assert sandboxed_channels(env) == ["instagram", "sms", "rcs"]
    out = sandbox_env(env, 5080, 5005)
    assert out["WHATSAPP_APP_SECRET"] == "s3cret" and out["WHATSAPP_API_URL"] == ""  # real channel untouched
    assert out["INSTAGRAM_API_URL"] == "http://127.0.0.1:5080/instagram/v23.0" and len(out["INSTAGRAM_APP_SECRET"]) == 32
    assert out["TWILIO_WEBHOOK_URL"] == "http://127.0.0.1:5005/webhooks/sms/webhook"
    assert out["THREADLINE_SANDBOX_CHANNELS"] == "instagram,sms,rcs"
    assert out["RBM_API_URL"] == "http://127.0.0.1:5080/rbm" and out["RBM_AGENT_ID"].startswith("sandbox-")
    assert sandboxed_channels({**env, "SANDBOX": "1"}) == ["instagram", "sms", "rcs"]  # never over real credentials
    assert sandboxed_channels({"SANDBOX": "0"}) == []
