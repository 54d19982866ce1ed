"""The handoff summary for agents who read Brazilian Portuguese (issue #16): the sentences,
labels, dates and follow-up suggestion in pt-BR, the customer quoted word for word in their
own language, the English summary unchanged beside it."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.handoff.journeys import COMPLAINT, ORDER_ID, three_channel_journey
from threadline.handoff.languages import Words, catalogue_path
from threadline.handoff.summary import HandoffSummary, generate_summary

HANDOFF = Path(__file__).resolve().parents[2] / "threadline" / "handoff"
KEYWORDS = {"words": None, "plural": (1, 2), "marked": None}


async def test_the_summary_is_also_written_in_portuguese_quoting_the_customer_verbatim(services, database):
    today = date.today()
    journey = await three_channel_journey(services, database, today)
    summary = await generate_summary(journey.customer_id, crm=services, tracker_events=journey.events,
                                     reason="complaint")
    assert summary.paragraph.startswith("Ana has written on Instagram, WhatsApp and Email since")
    pt = summary.languages["pt"]
    day = lambda d: f"{d:%d/%m}"  # noqa: E731  (the Brazilian day and month)
    since = day(journey.instagram_day)
    assert pt["paragraph"].startswith(f"Ana escreve por Instagram, WhatsApp e E-mail desde {since}.")
    assert "Agora, por E-mail, reclamou: “This is unacceptable." in pt["paragraph"]
    assert pt["paragraph"].endswith("Encaminhado porque o cliente reclamou.")
    assert pt["next_step"].startswith(f"Peça desculpas e assuma o problema; depois verifique o pedido {ORDER_ID} "
                                      "com Correios e dê a Ana uma data de entrega firme.")
    assert pt["sentiment_trend"] == "tranquilo → irritado"
    assert pt["last_messages"][-1]["line"] == f"“{COMPLAINT}” (E-mail, {day(today)} 08:16)"
    assert pt["timeline"][0]["line"].startswith(f"{day(journey.instagram_day)}, Instagram: perguntou se o Drift")
    assert pt["open_items"][0]["line"] == (f"Pedido {ORDER_ID}: 1 × Drift Running Shoes, enviado com Correios, "
                                           f"previsto para {day(today - timedelta(days=2))}: 2 dias de atraso")
    assert any(line.startswith("E-mail: I'm really sorry") for line in pt["bot_already"])  # the bot, as it said it

    data = json.loads(json.dumps(summary.to_dict()))
    assert HandoffSummary.from_dict(data) == summary and data["languages"]["pt"]["paragraph"] == pt["paragraph"]


def test_portuguese_words_for_plurals_days_and_codes():
    words = Words("pt")
    late = ("order %(order)s (%(product)s) is %(count)d day late",
            "order %(order)s (%(product)s) is %(count)d days late")
    assert words.plural(*late, 1, order="TL-1", product="Tênis") == "o pedido TL-1 (Tênis) está com 1 dia de atraso"
    assert words.plural(*late, 3, order="TL-1", product="Tênis") == "o pedido TL-1 (Tênis) está com 3 dias de atraso"
    assert words.day(date(2026, 12, 5)) == "05/12" and Words("en").day(date(2026, 12, 5)) == "5 Dec"
    assert words.reason("sales_ready") == "uma oportunidade qualificada está pronta para comprar"
    assert words.channel("rest") == "Chat do site" and words("late order") == "pedido atrasado"


def test_the_portuguese_catalogue_translates_every_marked_summary_string():
    marked = {message for *_, message, _comments, _context in extract_from_dir(
        HANDOFF, method_map=[("*.py", "python")], keywords=KEYWORDS)}
    with catalogue_path("pt").open("rb") as po:
        catalogue = read_po(po)
    assert len(marked) > 100
    for message in marked:
        found = catalogue.get(message if isinstance(message, str) else message[0])
        assert found is not None and found.string, f"no pt-BR translation for {message!r}"
        sources = [message] if isinstance(message, str) else list(message)
        targets = [found.string] if isinstance(found.string, str) else list(found.string)
        expected = {p for s in sources for p in re.findall(r"%\(\w+\)|\{\w+\}", s)}
        assert all(set(re.findall(r"%\(\w+\)|\{\w+\}", t)) == expected for t in targets), message
