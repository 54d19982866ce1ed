"""The custom actions for a customer whose `language` slot is "pt": the exact Brazilian
Portuguese they say (dates as 05/12 (sexta-feira), money as R$ 1.234,56), against a real CRM."""
from __future__ import annotations

from datetime import date, timedelta

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.crm_context import add_business_days
from actions.identity_claims import ActionVerifyIdentityClaim, refusal
from actions.orders import ActionOrderStatus
from actions.products import ActionProductInfo
from actions.session import ActionSessionStart
from actions.support import ActionOpenCase
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.interface import CrmUnavailable
from threadline.crm.models import Case
from threadline.identity.claims import ClaimOutcome
from threadline.i18n import texts_for

# Written out here rather than asked of Babel, so a wrong locale pattern shows.
WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
NBSP = "\u00a0"


def dia(day: date) -> str:
    return f"{day:%d/%m} ({WEEKDAYS[day.weekday()]})"


def in_days(days: int) -> date:
    return date.today() + timedelta(days=days)


def pt(slots=None, **kwargs):
    return tracker({"language": "pt", **(slots or {})}, **kwargs)


def texts(dispatcher: CollectingDispatcher):
    return [m["text"] for m in dispatcher.messages]


def cases(database):
    return database.transaction(lambda s: s.scalars(select(Case).order_by(Case.id)).all())


async def said(action, slots=None, **kwargs):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, pt(slots, **kwargs), DOMAIN)
    return events, texts(dispatcher)


async def test_orders_in_portuguese(database, crm):
    assert await said(ActionOrderStatus(), {"order_id": "TL-70315"}) == ([], [
        "Seu pedido TL-70315 (1 × Orbit Smartwatch) foi enviado pela transportadora Jadlog e deve chegar "
        f"até {dia(in_days(2))}."])
    assert await said(ActionOrderStatus(), {"order_id": "TL-61884"}) == ([], [
        f"Seu pedido TL-61884 (2 × Nimbus Pillow) está sendo preparado e deve chegar até {dia(in_days(5))}."])
    assert await said(ActionOrderStatus(), {"order_id": "TL-50927"}) == ([], [
        f"Seu pedido TL-50927 (1 × Aurora Desk Lamp) foi entregue em {dia(in_days(-12))}."])
    assert await said(ActionOrderStatus(), {"order_id": "TL-99999"}) == ([SlotSet("order_id", None)], [
        "Não encontrei o pedido TL-99999. Pode conferir o número? Ele começa com TL, como TL-48213."])


async def test_a_late_order_in_portuguese(database, crm):
    events, [text] = await said(ActionOrderStatus(), {"order_id": "TL-48213"})
    [case] = cases(database)
    assert events == [] and text == (
        "Seu pedido TL-48213 (1 × Drift Running Shoes) foi enviado pela transportadora Correios; a entrega "
        f"estava prevista para {dia(in_days(-2))}, então está atrasado. Abri o chamado #{case.id} com a nossa "
        f"equipe de entregas e vamos te dar um retorno até {dia(add_business_days(date.today(), 1))}.")


async def test_products_and_plans_in_portuguese(database, crm):
    assert await said(ActionProductInfo(), {"product": "Drift Running Shoes"}) == ([], [
        f"O produto Drift Running Shoes custa R${NBSP}499,00 e temos 18 unidades em estoque."])
    assert await said(ActionProductInfo(), {"product": "harbor rain jacket"}) == ([], [
        f"O produto Harbor Rain Jacket custa R${NBSP}549,00, mas está sem estoque no momento; chegam mais "
        f"unidades até {dia(in_days(14))}."])
    assert await said(ActionProductInfo(), {"product": "Club Plus"}) == ([], [
        f"O plano Club Plus custa R${NBSP}19,90 por mês."])
    assert await said(ActionProductInfo(), {"product": "Flux Capacitor"}) == ([SlotSet("product", None)], [
        'Não encontrei "Flux Capacitor" no nosso catálogo. Pode me passar o nome do jeito que aparece no site?'])


async def test_a_case_in_portuguese(database, crm):
    slots = {"case_topic": "refund_request", "order_id": "TL-50927"}
    _, [opened] = await said(ActionOpenCase(), slots, intent="refund_request")
    _, [again] = await said(ActionOpenCase(), slots, intent="refund_request")
    [case] = cases(database)
    due = dia(add_business_days(date.today(), 2))
    assert opened == (f"Abri o chamado #{case.id} sobre o pedido TL-50927: a nossa equipe vai confirmar o seu "
                      f"reembolso até {due}.")
    assert again == (f"O chamado #{case.id} sobre o pedido TL-50927 já está aberto, com prazo até {due}: a nossa "
                     "equipe vai confirmar o seu reembolso até lá.")  # not opened again (issue #15)


async def test_welcome_back_in_portuguese(database, crm):
    await ActionProductInfo().run(CollectingDispatcher(), pt({"product": "Drift Running Shoes"}, channel="email"), DOMAIN)
    _, greeting = await said(ActionSessionStart(), channel="sms")
    assert greeting == ["Que bom ter você de volta! Da última vez, pelo e-mail, você perguntou sobre o produto "
                        f"Drift Running Shoes. Já está disponível em estoque, por R${NBSP}499,00."]
    await ActionOrderStatus().run(CollectingDispatcher(), pt({"order_id": "TL-48213"}), DOMAIN)
    _, greeting = await said(ActionSessionStart())
    [case] = cases(database)
    assert greeting == [f"Que bom ter você de volta! Seu chamado #{case.id} sobre o pedido TL-48213 continua "
                        f"aberto; vamos te dar um retorno até {dia(add_business_days(date.today(), 1))}."]


async def test_the_crm_down_in_portuguese(database, crm, monkeypatch):
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("CRM database: OperationalError")

    monkeypatch.setattr(crm.orders, "order", down)
    assert await said(ActionOrderStatus(), {"order_id": "TL-48213"}) == ([], [
        "Desculpe, não consigo consultar isso agora. Tente de novo daqui a alguns minutos ou peça para falar "
        "com uma pessoa."])


async def test_identity_claim_texts_in_portuguese():
    assert await said(ActionVerifyIdentityClaim(), text="oi") == ([], [
        "Digite só o código de 6 dígitos, sem mais nada na mensagem."])
    assert await said(ActionVerifyIdentityClaim(), sender_id="rest:abc", text="123456") == ([], [
        "Não consigo vincular nada a esta conversa por aqui. Fale com a gente pelo WhatsApp, Instagram, SMS ou "
        "e-mail, ou peça para falar com uma pessoa."])
    portuguese = texts_for("pt")
    assert refusal(ClaimOutcome("wrong_code", attempts_left=1), portuguese) == (
        "Esse código não está certo. Você tem mais 1 tentativa.")
    assert refusal(ClaimOutcome("wrong_code", attempts_left=3), portuguese) == (
        "Esse código não está certo. Você tem mais 3 tentativas.")
    assert refusal(ClaimOutcome("expired"), portuguese) == (
        "Esse código expirou (os códigos valem por 10 minutos), então nada foi vinculado. Me passe o endereço "
        "de novo que eu envio um código novo.")
    assert refusal(ClaimOutcome("wrong_code", attempts_left=2), texts_for(None)) == (
        "That code isn't right. You have 2 more tries.")
