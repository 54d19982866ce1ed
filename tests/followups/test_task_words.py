"""A follow-up task's summary is written in every language agents read (English, pt-BR), from
the follow-ups' Babel catalogue, with days in the agent's locale; the catalogue has every marked
string."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from threadline.followups.alerts import summaries_of
from threadline.followups.items import DueItem
from threadline.followups.words import catalogue_path

SINCE = datetime(2026, 12, 1, 13, 5)


def test_a_stalled_lead_and_an_overdue_promise_in_english_and_portuguese():
    lead = DueItem("stalled_lead", "cus_w", "opportunity:1", SINCE, SINCE, "whatsapp",
                   {"product": "Aurora lamp", "stage": "proposal"})
    open_now = {"opportunities": [{}], "cases": [{}, {}], "promises": []}
    summaries = summaries_of(lead, open_now)
    assert summaries["en"] == ("Lead for Aurora lamp at proposal: no message or stage change since 1 Dec 13:05."
                               " Open: 1 lead, 2 cases. Last channel: WhatsApp.")
    assert summaries["pt"] == ("Lead de Aurora lamp em proposta: nenhuma mensagem nem mudança de etapa desde "
                               "01/12 13:05. Em aberto: 1 lead, 2 casos. Último canal: WhatsApp.")
    promise = DueItem("promise_due", "cus_w", "promise:2", SINCE, SINCE, None,
                      {"promise": "an update on your delivery", "due_date": "2026-12-04", "order_id": "TL-9"})
    summaries = summaries_of(promise, {"cases": [{}]})
    assert summaries["en"] == "Promise due 4 Dec (order TL-9) not kept yet: an update on your delivery. Open: 1 case."
    assert summaries["pt"] == ("Promessa para 04/12 (pedido TL-9) ainda não cumprida: an update on your delivery. "
                               "Em aberto: 1 caso.")


def test_an_unclaimed_handoff_and_a_question_without_order_in_portuguese():
    handoff = DueItem("unanswered", "cus_w", "handoff:hof_1", SINCE, SINCE, "sms", {"reason": "complaint"})
    assert summaries_of(handoff, {})["pt"].startswith("Atendimento (o cliente reclamou) aguardando um atendente desde 01/12 13:05.")
    asked = DueItem("intent_without_order", "cus_w", "interaction:3", SINCE, SINCE, "sms", {"product": ""})
    assert summaries_of(asked, {})["pt"] == ("Perguntou sobre uma compra em 01/12 13:05; nenhum pedido desde então. "
                                             "Último canal: SMS.")


def test_the_portuguese_catalogue_translates_every_marked_string():
    folder = Path(__file__).resolve().parents[2] / "threadline" / "followups"
    marked = {message for _file, _line, message, _comments, _context in extract_from_dir(
        str(folder), method_map=[("alerts.py", "python")],
        keywords={"words": None, "plural": (1, 2), "marked": None})}
    with catalogue_path("pt").open("rb") as po:
        catalogue = read_po(po)
    assert len(marked) >= 15
    for message in marked:
        found = catalogue.get(message if isinstance(message, str) else message[0])
        assert found is not None and found.string and all(found.string), message
