"""The email channel end to end against a real Dovecot (IMAP) and a real SMTP server.

Mail is put into the mailbox with IMAP APPEND (as a delivery agent would), read by the
connector, fed to a scripted bot through the shared inbox pipeline, and the reply is caught
by aiosmtpd.
"""
from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid

from redis.asyncio import Redis

from connectors.email.channel import EmailInput
from connectors.email.imap import PROCESSED_FLAG
from connectors.email.state import EmailState
from connectors.webhook.inbox import backlog
from tests.email_channel.conftest import mail, plain_body, settings_for
from tests.support.waiting import wait_for
from threadline.crm import Database
from threadline.identity.services import IdentityServices

ANA = "Ana Souza <Ana.Souza@example.com>"


def flags_of(dovecot, mailbox: str) -> bytes:
    client = dovecot.client()
    client.select(mailbox)
    _, data = client.uid("FETCH", "1:*", "(FLAGS)")
    client.logout()
    return b" ".join(d for d in data if isinstance(d, bytes))


async def test_customer_mail_is_answered_in_the_same_thread(harness):
    await harness.start()
    first_id = make_msgid(domain="example.com")
    harness.deliver(mail(ANA, "Pedido 4821 atrasado", "Meu pedido ainda não chegou.\n\nAna",
                         message_id=first_id))
    reply = (await wait_for(lambda: harness.outbox))[0]

    assert reply["X-Envelope-To"] == "ana.souza@example.com"
    assert reply["Subject"] == "Re: Pedido 4821 atrasado"
    assert reply["In-Reply-To"] == first_id
    assert reply["References"] == first_id
    assert reply["Auto-Submitted"] == "auto-replied"
    body = plain_body(reply)
    assert body.startswith("Hello Ana,")
    assert "You said: Meu pedido ainda não chegou.\n\nAna" in body
    assert reply.get_body(preferencelist=("html",)) is not None

    [handled] = harness.bot.handled
    assert handled.sender_id.startswith("cus_")
    assert handled.input_channel == "email"
    assert handled.metadata["details"]["email"]["subject"] == "Pedido 4821 atrasado"
    assert PROCESSED_FLAG.encode() in flags_of(harness.dovecot, harness.mailbox)


async def test_reply_to_our_answer_continues_the_conversation_from_its_new_text(harness):
    await harness.start()
    first_id = make_msgid(domain="example.com")
    harness.deliver(mail(ANA, "Boleto", "O boleto venceu, podem mandar outro?", message_id=first_id))
    ours = (await wait_for(lambda: harness.outbox))[0]

    # Gmail-style reply quoting the whole history.
    quoted = "\n".join("> " + line for line in plain_body(ours).splitlines())
    body = ("Já paguei, obrigada!\n\nEm seg., 8 de jan. de 2024 às 10:00, Customer service <\n"
            f"shop@example.com> escreveu:\n\n{quoted}\n")
    harness.deliver(mail(ANA, "Re: Boleto", body,
                         message_id=make_msgid(domain="example.com"), in_reply_to=ours["Message-ID"],
                         references=f"{first_id} {ours['Message-ID']}"))
    await wait_for(lambda: len(harness.bot.handled) == 2)
    first, second = harness.bot.handled
    assert second.sender_id == first.sender_id
    assert second.text == "Já paguei, obrigada!"
    assert second.metadata["thread_matched"] is True
    assert "O boleto venceu" in second.metadata["details"]["email"]["full_text"]  # full original kept for agents

    answer = (await wait_for(lambda: len(harness.outbox) == 2 and harness.outbox))[1]
    assert answer["Subject"] == "Re: Boleto"
    assert answer["References"].split() == [first_id, ours["Message-ID"], second.metadata["provider_message_id"]]


async def test_robots_get_no_answer_and_people_still_do(harness):
    await harness.start()
    ooo = mail("Bruno <bruno@example.com>", "Automatic reply: Pedido 4821", "I'm out of the office until Monday.",
               message_id=make_msgid(), Auto_Submitted="auto-replied", X_Auto_Response_Suppress="All")
    dsn = EmailMessage()
    dsn["From"] = "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>"
    dsn["To"] = "shop@example.com"
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn["Message-ID"] = make_msgid()
    dsn.set_content("This is the mail system at host mx.example.com.\n\nI'm sorry to have to inform you...")
    dsn.add_attachment("Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; gone@example.com\n"
                       "Action: failed\nStatus: 5.1.1\n", subtype="plain")
    dsn.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; '
                       f'boundary="{dsn.get_boundary()}"')
    newsletter = mail("Promo <news@shop-news.example>", "Black Friday: 50% off", "Our biggest sale...",
                      message_id=make_msgid(), List_Id="<news.shop-news.example>", Precedence="list",
                      List_Unsubscribe="<mailto:unsubscribe@shop-news.example>")
    for robot in (ooo, dsn, newsletter):
        harness.deliver(robot)
    person_id = make_msgid()
    harness.deliver(mail(ANA, "Oi", "Vocês entregam em Campinas?", message_id=person_id))

    await wait_for(lambda: harness.outbox)
    redis = harness.channel.runtime.redis

    async def robots_recorded():
        return len([key async for key in redis.scan_iter("tl:inbox:activity:*")]) == 3

    await wait_for(robots_recorded)  # the three robots were processed, and recorded for agents
    assert [m["In-Reply-To"] for m in harness.outbox] == [person_id]
    assert [m.text for m in harness.bot.handled] == ["Vocês entregam em Campinas?"]


async def test_restart_reprocesses_nothing_and_misses_nothing(harness):
    await harness.start()
    harness.deliver(mail(ANA, "Um", "primeira mensagem", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) == 1)
    await harness.stop()

    harness.deliver(mail(ANA, "Dois", "segunda mensagem", message_id=make_msgid()))
    harness.deliver(mail(ANA, "Três", "terceira mensagem"))  # no Message-ID: content hash dedupes
    await harness.start()
    await wait_for(lambda: len(harness.outbox) == 3)
    await harness.stop()

    await harness.start()  # a second restart with nothing new
    harness.deliver(mail(ANA, "Quatro", "quarta mensagem", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) == 4)
    texts = [m.text for m in harness.bot.handled]
    assert texts == ["primeira mensagem", "segunda mensagem", "terceira mensagem", "quarta mensagem"]


async def test_same_mail_seen_twice_is_answered_once(harness):
    await harness.start()
    duplicate = mail(ANA, "Nota fiscal", "Preciso da nota fiscal.", message_id=make_msgid())
    harness.deliver(duplicate)
    harness.deliver(duplicate)  # e.g. copied back into the folder, or delivered twice
    await wait_for(lambda: harness.outbox)
    harness.deliver(mail(ANA, "Outra", "outra coisa", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) == 2)
    assert [m.text for m in harness.bot.handled] == ["Preciso da nota fiscal.", "outra coisa"]


async def test_buttons_are_a_numbered_list_answerable_by_number_or_words(harness):
    await harness.start()
    harness.deliver(mail(ANA, "Pagamento", "menu", message_id=make_msgid()))
    offer = (await wait_for(lambda: harness.outbox))[0]
    assert "1. Pix\n2. Boleto" in plain_body(offer)
    assert "<ol start=\"1\"><li>Pix</li><li>Boleto</li></ol>" in offer.get_body(("html",)).get_content()

    harness.deliver(mail(ANA, "Re: Pagamento", "2\n\n> How would you like to pay?", message_id=make_msgid(),
                         in_reply_to=offer["Message-ID"]))
    harness.deliver(mail(ANA, "Re: Pagamento", "pix", message_id=make_msgid(), in_reply_to=offer["Message-ID"]))
    await wait_for(lambda: len(harness.bot.handled) == 3)
    assert [m.text for m in harness.bot.handled[1:]] == ['/choose_payment{"method":"boleto"}',
                                                        '/choose_payment{"method":"pix"}']


async def test_replies_per_sender_are_rate_limited(harness):
    await harness.start(reply_limit=2)
    for n in range(3):
        harness.deliver(mail(ANA, f"Mensagem {n}", f"texto {n}", message_id=make_msgid()))
    await wait_for(lambda: len(harness.bot.handled) == 3)
    redis = harness.channel.runtime.redis
    held = await wait_for(lambda: redis.xrange("tl:out:held"))
    assert len(harness.outbox) == 2
    assert held[0][1][b"reason"] == b"email reply rate limit"


async def test_mail_from_verified_email_joins_the_whatsapp_conversation(harness, email_env, tmp_path):
    services = IdentityServices(Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}"), email_env)
    customer = await services.resolver.resolve("whatsapp", "5511987654321", profile_name="Ana")
    await services.link()(customer, "email", "ana.souza@example.com", actor="agent:test",
                          reason="customer confirmed her email on WhatsApp")
    await services.close()

    await harness.start()
    harness.deliver(mail(ANA, "Sobre meu pedido", "Mandei mensagem no WhatsApp também.", message_id=make_msgid()))
    await wait_for(lambda: harness.bot.handled)
    assert harness.bot.handled[0].sender_id == customer


async def test_agent_message_through_rasa_api_output_is_sent_in_the_thread(harness):
    await harness.start()
    first_id = make_msgid()
    harness.deliver(mail(ANA, "Troca", "Quero trocar o tamanho.", message_id=first_id))
    await wait_for(lambda: harness.outbox)
    customer = harness.bot.handled[0].sender_id

    # Rasa's HTTP API (`output_channel=email`) sends each agent message at once.
    output = harness.channel.get_output_channel()
    await output.send_text_message(customer, "Oi Ana, aqui é a Carla. Já troquei para M.")
    agent_mail = (await wait_for(lambda: len(harness.outbox) == 2 and harness.outbox))[1]
    assert agent_mail["X-Envelope-To"] == "ana.souza@example.com"
    assert agent_mail["In-Reply-To"] == first_id
    assert "aqui é a Carla" in plain_body(agent_mail)


async def test_crash_before_the_cursor_was_saved_answers_nothing_twice(harness, email_env):
    await harness.start()
    for n in range(2):
        harness.deliver(mail(ANA, f"Pedido {n}", f"pergunta {n}", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) == 2)
    key = harness.channel.settings.mailbox_key
    await harness.stop()

    # As if the process died after queueing the mail but before saving its position.
    redis = Redis.from_url(email_env)
    state = EmailState(redis)
    validity, last = await state.imap_cursor(key)
    assert last == 2
    await state.set_imap_cursor(key, validity, 0)

    await harness.start()
    harness.deliver(mail(ANA, "Depois", "pergunta nova", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) == 3)
    assert await state.imap_cursor(key) == (validity, 3)  # the old mail was read again...
    await redis.close()
    assert [m.text for m in harness.bot.handled] == ["pergunta 0", "pergunta 1", "pergunta nova"]  # ...not answered


async def test_the_server_only_queues_and_the_inbox_worker_answers(harness, email_env):
    await harness.start(consume=False)  # the Rasa server's side only
    harness.deliver(mail(ANA, "Troca", "Quero trocar o tamanho.", message_id=make_msgid(domain="example.com")))
    store = Redis.from_url(email_env)
    try:
        await wait_for(lambda: _queued(store))
        assert harness.outbox == [] and harness.bot.handled == []
        # The inbox worker's side: its own channel object, built from the same settings.
        worker_side = EmailInput(settings_for(harness.dovecot, harness.smtp_port, harness.mailbox),
                                 send_retry_delays_s=(0.2,))
        consuming = asyncio.create_task(worker_side.consume(harness.bot, lambda: True))
        reply = (await wait_for(lambda: harness.outbox))[0]
        assert "You said: Quero trocar o tamanho." in plain_body(reply) and reply["Subject"] == "Re: Troca"
        await worker_side.stop_consuming()
        await asyncio.gather(consuming, return_exceptions=True)
    finally:
        await store.close()


async def _queued(store) -> bool:
    return await backlog(store, "email") == 1
