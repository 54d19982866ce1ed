"""Loop protection: every rule of docs/channels.md, and people's mail passing through."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from connectors.email.message import parse_email


def raw(headers: dict, body: str = "Hello", content_type: str = "") -> bytes:
    msg = EmailMessage()
    base = {"From": "Ana <ana@example.com>", "To": "shop@example.com", "Subject": "Pedido 4821",
            "Message-ID": "<m1@example.com>"}
    for name, value in {**base, **headers}.items():
        if value is not None:
            msg[name] = value
    msg.set_content(body)
    if content_type:
        msg.replace_header("Content-Type", content_type)
    return bytes(msg)


ROBOTS = {
    "auto-submitted": {"Auto-Submitted": "auto-replied"},
    "auto-generated": {"Auto-Submitted": "auto-generated"},
    "precedence bulk": {"Precedence": "bulk"},
    "precedence junk": {"Precedence": "junk"},
    "precedence list": {"Precedence": "list"},
    "precedence auto_reply": {"Precedence": "auto_reply"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "x-autorespond": {"X-Autorespond": "vacation"},
    "x-auto-response-suppress": {"X-Auto-Response-Suppress": "All"},
    "list-id": {"List-Id": "<clientes.lists.example.com>"},
    "list-unsubscribe": {"List-Unsubscribe": "<mailto:leave@lists.example.com>"},
    "mailer-daemon": {"From": "MAILER-DAEMON@mx.example.com"},
    "postmaster": {"From": "Postmaster <postmaster@example.net>"},
    "no-reply": {"From": "Loja <no-reply@marketplace.example>"},
    "noreply": {"From": "noreply@bank.example"},
    "do-not-reply": {"From": "do-not-reply@gov.example"},
    "empty return-path": {"Return-Path": "<>"},
    "out of office subject": {"Subject": "Out of Office: Pedido 4821"},
    "automatic reply subject": {"Subject": "Automatic reply: Pedido 4821"},
    "resposta automática": {"Subject": "Resposta automática: Pedido 4821"},
    "undeliverable": {"Subject": "Undeliverable: Pedido 4821"},
}


@pytest.mark.parametrize("headers", ROBOTS.values(), ids=ROBOTS.keys())
def test_robot_mail_is_recognised(headers):
    assert parse_email(raw(headers)).robot


def test_delivery_status_report_is_recognised():
    report = raw({"From": "mail@mx.example.com", "Subject": "Delivery report"},
                 content_type='multipart/report; report-type=delivery-status; boundary="b"')
    assert parse_email(report).robot == "report: delivery-status"


PEOPLE = {
    "plain": {},
    "auto-submitted no": {"Auto-Submitted": "no"},
    "precedence normal": {"Precedence": "normal"},
    "subject mentions office": {"Subject": "Vocês têm escritório em São Paulo?"},
    "name contains reply": {"From": "Replyana Silva <replyana@example.com>"},
    "return-path present": {"Return-Path": "<ana@example.com>"},
}


@pytest.mark.parametrize("headers", PEOPLE.values(), ids=PEOPLE.keys())
def test_people_are_not_robots(headers):
    assert parse_email(raw(headers)).robot is None
