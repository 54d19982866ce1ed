"""Builds tests/email_corpus from hand-written replies (run once; the .eml files are committed)."""

# Usage: python tests/email_corpus/make_corpus.py tests/email_corpus
# The customers' texts below are ours; the quoting around them imitates each client's format.
import html, os, sys
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone, timedelta

BRT = timezone(timedelta(hours=-3))
ORIG_EN = "Hi Ana,\n\nThanks for your order #4821. It ships within 2 business days.\n\nBest regards,\nLoja Exemplo"
ORIG_PT = "Olá Ana,\n\nRecebemos seu pedido #4821. Ele será enviado em até 2 dias úteis.\n\nAtenciosamente,\nLoja Exemplo"

def quote(text): return "\n".join("> " + l if l else ">" for l in text.split("\n"))

def attribution(style, lang):
    if style == "gmail":
        return ("On Mon, Jan 8, 2024 at 10:00 AM Loja Exemplo <\natendimento@lojaexemplo.com.br> wrote:" if lang == "en"
                else "Em seg., 8 de jan. de 2024 às 10:00, Loja Exemplo <\natendimento@lojaexemplo.com.br> escreveu:")
    if style == "gmail1":
        return ("On Mon, Jan 8, 2024 at 10:00 AM Loja Exemplo <atendimento@lojaexemplo.com.br> wrote:" if lang == "en"
                else "Em seg., 8 de jan. de 2024 às 10:00, Loja Exemplo <atendimento@lojaexemplo.com.br> escreveu:")
    if style == "apple":
        return ("On 8 Jan 2024, at 10:00, Loja Exemplo <atendimento@lojaexemplo.com.br> wrote:" if lang == "en"
                else "Em 8 de jan. de 2024, à(s) 10:00, Loja Exemplo <atendimento@lojaexemplo.com.br> escreveu:")
    if style == "yahoo":
        return "Em segunda-feira, 8 de janeiro de 2024 10:00:12 BRT, Loja Exemplo <atendimento@lojaexemplo.com.br> escreveu:"
    raise ValueError(style)

def outlook_header(lang, rule=True):
    if lang == "en":
        h = ("From: Loja Exemplo <atendimento@lojaexemplo.com.br>\nSent: Monday, January 8, 2024 10:00 AM\n"
             "To: Ana Souza <ana.souza@example.com>\nSubject: Your order #4821")
    elif lang == "pt2":
        h = ("De: Loja Exemplo <atendimento@lojaexemplo.com.br>\nEnviada em: segunda-feira, 8 de janeiro de 2024 10:00\n"
             "Para: Ana Souza <ana.souza@example.com>\nAssunto: Seu pedido #4821")
    else:
        h = ("De: Loja Exemplo <atendimento@lojaexemplo.com.br>\nEnviado: segunda-feira, 8 de janeiro de 2024 10:00\n"
             "Para: Ana Souza <ana.souza@example.com>\nAssunto: Seu pedido #4821")
    return ("________________________________\n" if rule else "") + h

def body_plain(case):
    lang = case["lang"]; orig = ORIG_EN if lang == "en" else ORIG_PT
    parts = [case["new"]]
    if case.get("sig"): parts.append(case["sig"])
    style = case["style"]
    if style in ("gmail", "gmail1", "apple", "yahoo"):
        parts.append(attribution(style, "en" if lang == "en" else "pt") + "\n\n" + quote(orig))
    elif style.startswith("outlook"):
        parts.append(outlook_header(case.get("olang", lang), rule=style != "outlook-norule") + "\n\n" + orig)
    elif style == "original":
        parts.append("-----Original Message-----\nFrom: Loja Exemplo [mailto:atendimento@lojaexemplo.com.br]\n"
                     "Sent: Monday, January 8, 2024 10:00 AM\nTo: Ana Souza\nSubject: Your order #4821\n\n" + orig)
    elif style == "forward":
        parts.append("---------- Forwarded message ---------\nFrom: Loja Exemplo <atendimento@lojaexemplo.com.br>\n"
                     "Date: Mon, Jan 8, 2024 at 10:00 AM\nSubject: Your order #4821\nTo: <ana.souza@example.com>\n\n" + orig)
    elif style == "bare-quote":
        parts.append(quote(orig))
    elif style == "none":
        pass
    return "\n\n".join(parts) + "\n"

def p(text): return "".join(f"<div>{html.escape(l) if l else '<br>'}</div>" for l in text.split("\n"))

def body_html(case):
    lang = case["lang"]; orig = ORIG_EN if lang == "en" else ORIG_PT
    new = p(case["new"]) + (f'<div><br></div><div class="signature">{p(case["sig"])}</div>' if case.get("sig") else "")
    style = case["style"]
    if style.startswith("gmail"):
        att = attribution("gmail1", "en" if lang == "en" else "pt").replace("<", "&lt;").replace(">", "&gt;")
        return (f'<div dir="ltr">{new}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">{att}<br></div>'
                f'<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f'{p(orig)}</blockquote></div>')
    if style == "apple":
        att = html.escape(attribution("apple", "en" if lang == "en" else "pt"))
        return (f'<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
                f'<body dir="auto">{new}<div><br><blockquote type="cite">{att}<br><br></blockquote></div>'
                f'<blockquote type="cite"><div dir="ltr">{p(orig)}</div></blockquote></body></html>')
    if style.startswith("outlook"):
        hdr = outlook_header(case.get("olang", lang), rule=False).split("\n")
        hdr_html = "<br>".join(f"<b>{html.escape(l.split(':',1)[0])}:</b>{html.escape(l.split(':',1)[1])}" for l in hdr)
        return (f'<html><head><style>p.MsoNormal{{margin:0cm;font-size:11pt;}}</style></head><body lang="PT-BR">'
                f'<div class="WordSection1">{new}</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
                f'<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">{hdr_html}</font>'
                f'<div>&nbsp;</div></div><div>{p(orig)}</div></body></html>')
    raise ValueError(style)

def build(case, n):
    msg = EmailMessage()
    msg["From"] = case.get("from", "Ana Souza <ana.souza@example.com>")
    msg["To"] = "Loja Exemplo <atendimento@lojaexemplo.com.br>"
    msg["Subject"] = ("Re: Your order #4821" if case["lang"] == "en" else "Re: Seu pedido #4821")
    msg["Date"] = format_datetime(datetime(2024, 1, 8, 11, n % 60, tzinfo=BRT))
    msg["Message-ID"] = f"<corpus-{n:02d}@{case['client']}.example>"
    msg["In-Reply-To"] = "<order-4821@lojaexemplo.com.br>"
    msg["References"] = "<order-4821@lojaexemplo.com.br>"
    msg["X-Mailer" if case["client"] != "gmail" else "X-Client"] = case["client"]
    fmt = case["fmt"]
    if fmt == "plain":
        msg.set_content(body_plain(case))
    elif fmt == "html":
        msg.set_content(body_html(case), subtype="html")
    else:
        msg.set_content(body_plain(case)); msg.add_alternative(body_html(case), subtype="html")
    if case.get("attach"):
        msg.add_attachment(b"%PDF-1.4 fake receipt\n" * 40, maintype="application", subtype="pdf", filename=case["attach"])
    return msg


S_IPHONE_EN = "Sent from my iPhone"
S_IPHONE_PT = "Enviado do meu iPhone"
CASES = [
 dict(name="gmail-en-plain-late-order", client="gmail", lang="en", fmt="alt", style="gmail",
      new="Hi,\n\nIt's been 10 days and the order still hasn't arrived. Can you check where it is?\n\nThanks,\nAna"),
 dict(name="gmail-pt-plain-boleto", client="gmail", lang="pt", fmt="alt", style="gmail",
      new="Boa tarde,\n\nO boleto venceu ontem e não consegui pagar. Vocês podem mandar a segunda via?\n\nObrigada,\nAna"),
 dict(name="gmail-pt-oneline-attribution", client="gmail", lang="pt", fmt="plain", style="gmail1",
      new="Quero trocar o tamanho da camiseta para M, é possível?"),
 dict(name="gmail-en-html-only", client="gmail", lang="en", fmt="html", style="gmail",
      new="Could you send me the invoice for this order? I need it for my company's expenses."),
 dict(name="gmail-pt-html-only", client="gmail", lang="pt", fmt="html", style="gmail",
      new="Oi! Preciso da nota fiscal desse pedido, pode ser no CNPJ 12.345.678/0001-90?"),
 dict(name="gmail-en-thanks-but", client="gmail", lang="en", fmt="alt", style="gmail",
      new="Thanks, but the tracking link you sent doesn't work. It says the code is invalid."),
 dict(name="gmail-pt-signature-dashes", client="gmail", lang="pt", fmt="plain", style="gmail",
      new="Vocês entregam em Campinas no sábado?",
      sig="-- \nAna Souza\nDesigner | Estúdio Aurora\n(11) 98765-4321"),
 dict(name="gmail-en-signature-dashes-html", client="gmail", lang="en", fmt="alt", style="gmail",
      new="I was charged twice for order #4821. Please refund one of the charges.",
      sig="-- \nAna Souza\nhttps://anasouza.example"),
 dict(name="gmail-en-attachment", client="gmail", lang="en", fmt="alt", style="gmail", attach="receipt.pdf",
      new="Attached is the receipt from my bank showing the payment went through on the 5th."),
 dict(name="gmail-pt-number-answer", client="gmail", lang="pt", fmt="plain", style="gmail",
      new="2"),
 dict(name="gmail-en-forward", client="gmail", lang="en", fmt="plain", style="forward",
      new="Forwarding the confirmation below. My husband placed the order but I'm the one asking: when will it arrive?"),
 dict(name="apple-en-iphone", client="apple", lang="en", fmt="plain", style="apple",
      new="Ok great, see you Friday then", sig=S_IPHONE_EN),
 dict(name="apple-pt-iphone", client="apple", lang="pt", fmt="plain", style="apple",
      new="Perfeito, obrigada! Pode confirmar o endereço de entrega? Rua das Flores, 120", sig=S_IPHONE_PT),
 dict(name="apple-pt-html", client="apple", lang="pt", fmt="alt", style="apple",
      new="Oi, o produto chegou com a caixa amassada e a tampa quebrada. Como faço a devolução?", sig=S_IPHONE_PT),
 dict(name="apple-en-html-only", client="apple", lang="en", fmt="html", style="apple",
      new="Hello,\n\nCan I pay with PIX instead of card? The card keeps getting declined.\n\nRegards,\nAna"),
 dict(name="apple-en-ipad-nosig", client="apple", lang="en", fmt="plain", style="apple",
      new="Please cancel the order, I found it cheaper elsewhere. Sorry!"),
 dict(name="apple-pt-two-paragraphs", client="apple", lang="pt", fmt="alt", style="apple",
      new="Bom dia,\n\nFiz o pagamento pelo PIX às 9h mas o pedido continua como aguardando pagamento.\n\nSegue o comprovante em anexo.",
      attach="comprovante-pix.pdf"),
 dict(name="outlook-en-plain", client="outlook", lang="en", fmt="plain", style="outlook",
      new="Hi team,\n\nWe'd like to order 40 units for our office. Do you offer a discount for bulk orders?\n\nKind regards,\nAna Souza"),
 dict(name="outlook-pt-plain-enviado", client="outlook", lang="pt", fmt="plain", style="outlook",
      new="Prezados,\n\nAinda não recebi o reembolso do pedido cancelado. Já se passaram 15 dias.\n\nAtenciosamente,\nAna Souza"),
 dict(name="outlook-pt-enviada-em", client="outlook", lang="pt", fmt="plain", style="outlook", olang="pt2",
      new="Bom dia, qual o prazo de entrega para Recife?"),
 dict(name="outlook-en-html", client="outlook", lang="en", fmt="alt", style="outlook",
      new="Hello,\n\nThe invoice has the wrong company name. It should be Aurora Studio Ltda.\n\nThanks"),
 dict(name="outlook-pt-html-only", client="outlook", lang="pt", fmt="html", style="outlook",
      new="Boa tarde,\n\nGostaria de falar com um atendente sobre a garantia do produto.\n\nObrigado"),
 dict(name="outlook-en-html-only", client="outlook", lang="en", fmt="html", style="outlook",
      new="Is the blue model back in stock? I'd need it before the 20th."),
 dict(name="outlook-en-mobile", client="outlook", lang="en", fmt="plain", style="outlook-norule",
      new="Yes please go ahead with the exchange.", sig="Get Outlook for Android"),
 dict(name="outlook-pt-mobile", client="outlook", lang="pt", fmt="plain", style="outlook-norule",
      new="Pode sim, obrigada.", sig="Obter o Outlook para iOS"),
 dict(name="outlook-en-original-message", client="outlook", lang="en", fmt="plain", style="original",
      new="Please update my delivery address to 55 King Street, apartment 3B."),
 dict(name="yahoo-pt-long-attribution", client="yahoo", lang="pt", fmt="plain", style="yahoo",
      new="Olá, vocês aceitam cartão de débito na entrega?"),
 dict(name="gmail-en-bare-quote", client="gmail", lang="en", fmt="plain", style="bare-quote",
      new="What time does the courier usually come?"),
 dict(name="gmail-pt-no-history", client="gmail", lang="pt", fmt="plain", style="none",
      new="Olá, gostaria de saber se vocês têm loja física em São Paulo.", sig=S_IPHONE_PT),
 dict(name="gmail-en-samsung", client="gmail", lang="en", fmt="plain", style="gmail",
      new="Still waiting on an answer about the refund.", sig="Sent from my Galaxy"),
 dict(name="gmail-pt-samsung", client="gmail", lang="pt", fmt="plain", style="gmail",
      new="Não chegou ainda não. Podem verificar com a transportadora?",
      sig="Enviado do meu smartphone Samsung Galaxy."),
 dict(name="outlook-pt-corporate-signature", client="outlook", lang="pt", fmt="plain", style="outlook",
      new="Prezados,\n\nSegue o pedido de compra nº 7781 aprovado.\n\nAtt.",
      sig="Ana Souza\nCompras | Construtora Horizonte\nTel.: +55 11 3333-4444\nwww.horizonte.example",
      expect="Prezados,\n\nSegue o pedido de compra nº 7781 aprovado.\n\nAtt."),
 dict(name="gmail-en-inline-answers", client="gmail", lang="en", fmt="plain", style="none",
      new="On Mon, Jan 8, 2024 at 10:00 AM Loja Exemplo <atendimento@lojaexemplo.com.br> wrote:\n"
          "> Which size do you need?\n\nM, please.\n\n> And which colour?\n\nBlue.",
      expect="M, please.\n\nBlue."),
]


OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
for n, case in enumerate(CASES, 1):
    base = os.path.join(OUT, f"{n:02d}-{case['name']}")
    open(base + ".eml", "wb").write(bytes(build(case, n)))
    open(base + ".expected.txt", "w").write(case.get("expect", case["new"]).strip() + "\n")
print(len(CASES), "cases")
