"""The console in the agent's language (issue #16): pt-BR or English, chosen by the agent and
stored with them; before a choice the browser's Accept-Language decides; the catalogue has
every string the console marks."""
from __future__ import annotations

import json
import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from threadline.console.agents import SetAgentLanguage
from threadline.console.i18n import catalogue_path, choose_language
from threadline.console.rendering import TEMPLATES
from threadline.crm.models import Agent, Handoff
from tests.console.conftest import log_in, page_token
from tests.console.test_live_updates import next_event

PORTUGUESE_BROWSER = {"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"}
ENGLISH_BROWSER = {"Accept-Language": "en-GB,en;q=0.9"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "translated": (2,), "marked": None}


def test_the_portuguese_catalogue_translates_every_marked_string_with_the_same_placeholders():
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    marked = {message for *_, message, _comments, _context in extract_from_dir(
        TEMPLATES.parent, method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        options_map=options, keywords=KEYWORDS)}
    with catalogue_path("pt").open("rb") as po:
        catalogue = read_po(po)
    for message in marked:
        key = message if isinstance(message, str) else message[0]
        found = catalogue.get(key)
        assert found is not None and all(found.string if isinstance(found.string, tuple) else [found.string]), \
            f"no pt-BR translation for {message!r}"
        sources = [message] if isinstance(message, str) else list(message)
        targets = [found.string] if isinstance(found.string, str) else list(found.string)
        placeholders = {p for s in sources for p in re.findall(r"%\(\w+\)", s)}
        assert all(set(re.findall(r"%\(\w+\)", t)) == placeholders for t in targets), message


def test_the_agents_choice_comes_first_then_the_browsers_then_english():
    assert choose_language(None, "pt-BR,pt;q=0.9,en;q=0.8") == "pt"
    assert choose_language(None, "pt-PT") == "pt"
    assert choose_language(None, "en-US,en;q=0.9,pt;q=0.5") == "en"
    assert choose_language(None, "en;q=0.2, pt;q=0.7") == "pt"  # preference, not order
    assert choose_language(None, "de-DE,fr;q=0.8") == "en" and choose_language(None, None) == "en"
    assert choose_language("en", "pt-BR") == "en" and choose_language("pt", "en") == "pt"


async def test_the_login_page_follows_the_browsers_language(console):
    portuguese = await (await console.get("/login", headers=PORTUGUESE_BROWSER)).text()
    assert '<html lang="pt-BR">' in portuguese and "Entrar" in portuguese and "Senha" in portuguese
    english = await (await console.get("/login")).text()
    assert '<html lang="en">' in english and "Log in" in english and "Senha" not in english

    page = await console.get("/login", headers=PORTUGUESE_BROWSER)
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    wrong = await console.post("/login", headers=PORTUGUESE_BROWSER, allow_redirects=False,
                               data={"csrf_token": token, "name": "ana", "password": "not-her-password"})
    assert wrong.status == 401 and "Nome ou senha incorretos." in await wrong.text()


async def test_an_agent_who_chose_portuguese_sees_portuguese_labels_whatever_the_browser(console, db, agents,
                                                                                          escalation):
    SetAgentLanguage(db)(agents["ana"].id, "pt")
    assert (await log_in(console, "ana")).status == 303
    queue = await (await console.get("/", headers=ENGLISH_BROWSER)).text()
    assert '<html lang="pt-BR">' in queue
    for label in ("Fila", "Prioridade", "Esperando", "Cliente", "Motivo", "Resumo", "aguardando", "pediu atendente",
                  "Sair", ">English<"):
        assert label in queue, label
    assert "Nobody is waiting" not in queue and "Log out" not in queue

    page = await (await console.get(f"/handoffs/{escalation.handoff_id}", headers=ENGLISH_BROWSER)).text()
    for label in ("Assumir esta conversa", "Próximo passo sugerido", "Conversa, todos os canais", "Pendências",
                  "prioridade ", "WhatsApp"):
        assert label in page, label
    assert "Take this conversation" not in page and "Suggested next step" not in page


async def test_the_agent_picks_a_language_in_the_console_and_it_is_stored(console, db, agents, escalation):
    assert (await log_in(console, "bruno")).status == 303
    before = await (await console.get("/", headers=PORTUGUESE_BROWSER)).text()
    assert "Fila" in before  # no choice yet: the browser's language

    token = await page_token(console, "/")
    chosen = await console.post("/language", headers=PORTUGUESE_BROWSER, allow_redirects=False,
                                data={"csrf_token": token, "language": "en",
                                      "next": f"/handoffs/{escalation.handoff_id}"})
    assert chosen.status == 303 and chosen.headers["Location"] == f"/handoffs/{escalation.handoff_id}"
    stored = db.transaction(lambda s: s.scalar(select(Agent.language).where(Agent.name == "bruno")))
    assert stored == "en"
    after = await (await console.get(f"/handoffs/{escalation.handoff_id}", headers=PORTUGUESE_BROWSER)).text()
    assert "Take this conversation" in after and "Assumir esta conversa" not in after

    forged = await console.post("/language", data={"language": "pt"}, allow_redirects=False)
    assert forged.status == 403
    unknown = await console.post("/language", data={"csrf_token": token, "language": "es"}, allow_redirects=False)
    assert unknown.status == 400
    offsite = await console.post("/language", allow_redirects=False,
                                 data={"csrf_token": token, "language": "pt", "next": "https://evil.example/"})
    assert offsite.headers["Location"] == "/"
    assert db.transaction(lambda s: s.scalar(select(Agent.language).where(Agent.name == "bruno"))) == "pt"


async def test_the_summary_shows_in_the_agents_language_and_the_customer_as_they_wrote(console, db, agents,
                                                                                     escalation):
    quote = "“oi, cadê meu pedido TL-48213?” (WhatsApp, 30/11 10:01)"
    summary = {"paragraph": "Ana wrote on WhatsApp.", "next_step": "Call her back.",
               "sentiment_trend": "calm throughout",
               "last_messages": [{"line": "“oi, cadê meu pedido TL-48213?” (WhatsApp, 30 Nov 10:01)"}],
               "languages": {"pt": {"paragraph": "Ana escreveu pelo WhatsApp.", "next_step": "Ligue para ela.",
                                    "sentiment_trend": "tranquilo o tempo todo", "last_messages": [{"line": quote}]}}}
    db.transaction(lambda s: setattr(s.get(Handoff, escalation.handoff_id), "summary_json", json.dumps(summary)))
    SetAgentLanguage(db)(agents["ana"].id, "pt")
    assert (await log_in(console, "ana")).status == 303
    page = await (await console.get(f"/handoffs/{escalation.handoff_id}")).text()
    assert "Ana escreveu pelo WhatsApp." in page and "Ligue para ela." in page and "tranquilo o tempo todo" in page
    assert "oi, cadê meu pedido TL-48213?" in page and "Ana wrote on WhatsApp." not in page
    assert "Ana escreveu pelo WhatsApp." in await (await console.get("/")).text()  # the queue's summary cell

    SetAgentLanguage(db)(agents["ana"].id, "en")
    page = await (await console.get(f"/handoffs/{escalation.handoff_id}", headers=PORTUGUESE_BROWSER)).text()
    assert "Ana wrote on WhatsApp." in page and "Call her back." in page and "Ana escreveu" not in page


async def test_live_queue_updates_speak_the_agents_language(console, db, agents, escalation):
    SetAgentLanguage(db)(agents["ana"].id, "pt")
    await log_in(console, "ana")
    stream = await console.get("/events/queue", headers=ENGLISH_BROWSER)
    first = await next_event(stream, "queue")
    assert first["count"] == 1 and first["count_word"] == "aberta"
    assert "aguardando" in first["html"] and "pediu atendente" in first["html"]
    stream.close()
