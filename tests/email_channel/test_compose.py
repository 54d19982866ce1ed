"""Our replies: threading headers, Re: once, numbered options, plain + HTML, auto-submitted."""
from __future__ import annotations

from email import message_from_bytes, policy

from connectors.email.compose import MAX_REFERENCES, Part, Style, build_reply, reply_subject
from connectors.email.message import parse_email
from connectors.email.state import ThreadParent


def test_subject_gets_re_exactly_once():
    assert reply_subject("Pedido 4821", "x") == "Re: Pedido 4821"
    assert reply_subject("RE: Re: Pedido 4821", "x") == "Re: Pedido 4821"
    assert reply_subject("Res: Pedido", "x") == "Re: Pedido"
    assert reply_subject("Fwd: Re: Pedido", "x") == "Re: Pedido"
    assert reply_subject("", "Your message") == "Re: Your message"


def test_reply_threads_onto_the_parent_and_is_marked_automatic():
    parent = ThreadParent("<c2@example.com>", ["<c1@example.com>", "<s1@shop.example>"], "RE: Pedido",
                          "ana@example.com", "Ana Souza")
    msg = build_reply(sender="shop@shop.example", sender_name="Loja", to="ana@example.com", to_name="Ana Souza",
                      parts=[Part(text="Seu pedido sai hoje.")], parent=parent)
    assert msg["In-Reply-To"] == "<c2@example.com>"
    assert msg["References"] == "<c1@example.com> <s1@shop.example> <c2@example.com>"
    assert msg["Subject"] == "Re: Pedido"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"].endswith("@shop.example>")
    # Our own reply, read back, is recognised as automatic: two bots cannot ping-pong.
    assert parse_email(bytes(msg)).robot == "auto-submitted: auto-replied"


def test_long_threads_keep_the_first_and_latest_references():
    refs = [f"<m{n}@example.com>" for n in range(40)]
    msg = build_reply(sender="shop@shop.example", sender_name="Loja", to="ana@example.com", to_name=None,
                      parts=[Part(text="ok")], parent=ThreadParent("<m40@example.com>", refs, "x"))
    chain = msg["References"].split()
    assert len(chain) == MAX_REFERENCES and chain[0] == "<m0@example.com>" and chain[-1] == "<m40@example.com>"


def test_buttons_become_a_numbered_list_in_both_parts():
    style = Style(greeting="Olá{name},", sign_off="Abraços,\nLoja", choose_hint="Responda com o número.")
    parts = [Part(text="Como prefere pagar?", buttons=[{"title": "Pix", "payload": "/pix"},
                                                     {"title": "Boleto & cartão", "payload": "/boleto"}]),
             Part(text="Ou fale com uma pessoa:", buttons=[{"title": "Atendente", "payload": "/human"}])]
    msg = build_reply(sender="shop@shop.example", sender_name="Loja", to="ana@example.com", to_name="Ana Souza",
                      parts=parts, parent=None, style=style)
    again = message_from_bytes(bytes(msg), policy=policy.default)
    text = again.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == ("Olá Ana,\n\nComo prefere pagar?\n\n1. Pix\n2. Boleto & cartão\n\nOu fale com uma pessoa:\n\n"
                    "3. Atendente\n\nResponda com o número.\n\nAbraços,\nLoja\n")
    html = again.get_body(("html",)).get_content()
    assert '<ol start="1"><li>Pix</li><li>Boleto &amp; cartão</li></ol>' in html
    assert '<ol start="3"><li>Atendente</li></ol>' in html
    assert "In-Reply-To" not in again and again["Subject"] == "Re: Your message"
