"""Parsing a raw mail: sender, thread ids, attachments, sender trust, fallback id."""
from __future__ import annotations

from email.message import EmailMessage

from connectors.email.message import parse_email


def reply_with_attachment() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Souza <Ana.Souza@Example.COM>"
    msg["To"] = "shop@example.com"
    msg["Subject"] = "Re: Boleto"
    msg["Message-ID"] = "<r2@example.com>"
    msg["In-Reply-To"] = "<ours-1@shop.example>"
    msg["References"] = "<first@example.com> <ours-1@shop.example>"
    msg.set_content("Segue o comprovante.\n\nEm seg., 8 de jan. de 2024 às 10:00, Loja <shop@example.com> escreveu:\n> Olá")
    msg.add_attachment(b"%PDF-1.4" + b"0" * 2040, maintype="application", subtype="pdf",
                       filename="comprovante.pdf")
    return msg


def test_sender_thread_ids_and_attachments():
    mail = parse_email(bytes(reply_with_attachment()))
    assert mail.sender == "ana.souza@example.com"
    assert mail.sender_name == "Ana Souza"
    assert mail.in_reply_to == ["<ours-1@shop.example>"]
    assert mail.thread_ids == ["<ours-1@shop.example>", "<first@example.com>"]
    assert mail.attachments == [{"name": "comprovante.pdf", "type": "application/pdf", "size": 2048}]
    assert mail.new_text == "Segue o comprovante."
    assert "PDF" not in mail.new_text and "Olá" in mail.full_text


def test_authentication_results_of_our_server_decide_trust():
    trusted = {"mx.shop.example"}
    msg = reply_with_attachment()
    assert parse_email(bytes(msg), trusted).authenticated is False
    msg["Authentication-Results"] = "mx.shop.example; dkim=pass header.d=other.example; dmarc=fail"
    assert parse_email(bytes(msg), trusted).authenticated is False  # signed, but by another domain
    del msg["Authentication-Results"]
    msg["Authentication-Results"] = "mx.shop.example; dkim=pass header.d=example.com; spf=pass"
    assert parse_email(bytes(msg), trusted).authenticated is True
    assert parse_email(bytes(msg)).authenticated is False  # no server trusted: nobody is
    del msg["Authentication-Results"]
    msg["Authentication-Results"] = "mx.shop.example; spf=pass; dmarc=pass (p=reject) header.from=example.com"
    assert parse_email(bytes(msg), trusted).authenticated is True
    assert parse_email(bytes(msg), {"mx.other.example"}).authenticated is False


def test_mail_without_message_id_gets_a_stable_content_id():
    msg = reply_with_attachment()
    del msg["Message-ID"]
    first, again = parse_email(bytes(msg)), parse_email(bytes(msg))
    assert first.message_id is None
    assert first.event_id.startswith("sha256:") and first.event_id == again.event_id
    msg.replace_header("Subject", "Re: Boleto (2)")
    assert parse_email(bytes(msg)).event_id != first.event_id


def test_html_only_mail_is_converted_to_text():
    msg = EmailMessage()
    msg["From"] = "ana@example.com"
    msg.set_content("<html><head><style>p{color:red}</style></head><body><p>Quero o&nbsp;<b>reembolso</b>.</p>"
                    "<ul><li>pedido 1</li><li>pedido 2</li></ul></body></html>", subtype="html")
    mail = parse_email(bytes(msg))
    assert mail.new_text == "Quero o reembolso.\n- pedido 1\n- pedido 2"


def test_undecodable_charset_does_not_crash():
    raw = (b"From: ana@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=unknown-8bit\r\n\r\n"
           b"caf\xe9 com leite\r\n")
    assert parse_email(raw).new_text.startswith("caf")
