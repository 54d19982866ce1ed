"""A Rasa-shaped server for channel tests: the real connectors, registered exactly as Rasa
registers them (`rasa.core.channels.channel.register`), with the real identity resolver
(REDIS_URL, CRM_DATABASE_URL). Like the Rasa server it only accepts webhooks into the inbox.

`python -m tests.channels.bot_server worker` is the scripted bot as an inbox worker
(threadline/inbox_worker.py, health on THREADLINE_INBOX_WORKER_PORT): it answers what the
server accepted, as `make run`'s inbox worker does with the real model.

The bot records every `UserMessage` it handles in Redis (`test:handled`, with the worker's
consumer name) and answers through the message's output channel, like Rasa's processor does.
Environment:
BOT_PORT, BOT_DELAY_S (seconds per turn, to keep the bot busy), BOT_BLOCK=1 (never finish a
turn: for crash tests), BOT_START_DELAY_S (seconds the server listens before the channels
start, like Rasa loading its model), plus the channel variables and REDIS_URL.
POST /test/agent-reply {channel, customer_id, text, agent_name} sends an agent's reply as
Rasa's HTTP API does for the console.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

from redis.asyncio import Redis
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.instagram import InstagramInput
from connectors.rcs import RcsInput
from connectors.sms import SmsInput
from connectors.webchat import WebchatInput
from connectors.whatsapp import WhatsAppInput
from threadline.conversation.redis_connection import connect
from threadline.inbox_worker import serve

LONG_TEXT = " ".join(f"This is sentence number {n} of a long answer about your order." for n in range(120))


class ScriptedAgent:
    def __init__(self) -> None:
        self.redis: Redis | None = None  # created on the loop that runs the turns
        self.delay = float(os.environ.get("BOT_DELAY_S") or 0)
        self.block = os.environ.get("BOT_BLOCK") == "1"

    def is_ready(self) -> bool:
        return True

    async def handle_message(self, message: UserMessage) -> None:
        if self.block:
            await asyncio.sleep(3600)
        await asyncio.sleep(self.delay)
        if self.redis is None:
            self.redis = connect(os.environ["REDIS_URL"])
        if (message.text or "").startswith("hold the gil"):
            # A C loop never gives up the GIL (like a long TensorFlow or numpy call).
            started = time.monotonic()
            sum(range(int(os.environ.get("BOT_GIL_LOOP") or 60_000_000)))
            message.metadata = {**(message.metadata or {}), "held_gil_s": time.monotonic() - started}
        await self.redis.rpush("test:handled", json.dumps(
            {"sender_id": message.sender_id, "text": message.text, "input_channel": message.input_channel,
             "message_id": message.message_id, "metadata": message.metadata,
             "worker": os.environ.get("THREADLINE_INBOX_CONSUMER")}))
        out, who, text = message.output_channel, message.sender_id, message.text or ""
        if text == "/share_media":
            await out.send_text_message(who, "Thanks, I received it.")
        elif text == "/unsupported_message":
            await out.send_text_message(who, "Sorry, I can't open that kind of message yet.")
        elif text.startswith("menu"):
            count = int(text.split()[1]) if len(text.split()) > 1 else 2
            buttons = [{"title": f"Option {n}", "payload": f"/choose{{\"n\":{n}}}"} for n in range(1, count + 1)]
            await out.send_text_with_buttons(who, "Pick one:", buttons)
        elif text.startswith("carousel") or text == "card":
            count = int(text.split()[1]) if len(text.split()) > 1 else 1
            cards = [{"title": f"Product {n}", "description": f"R$ {n}0,00", "image": f"https://shop.example/{n}.jpg",
                      "buttons": [{"title": "Buy", "payload": f"/buy{{\"n\":{n}}}"},
                                  {"title": "Ask a person", "payload": "/human_handoff"}]}
                     for n in range(1, count + 1)]
            rich = {"card": cards[0]} if text == "card" else {"text": "Our products:", "carousel": cards}
            await out.send_custom_json(who, {"rcs": rich})
        elif text == "long":
            await out.send_text_message(who, LONG_TEXT)
        else:
            await out.send_text_message(who, f"You said: {text}")


def channels() -> list:
    return [WhatsAppInput.from_credentials(None), InstagramInput.from_credentials(None),
            SmsInput.from_credentials(None), RcsInput.from_credentials(None),
            WebchatInput.from_credentials(None)]


def worker() -> None:
    async def load() -> ScriptedAgent:
        return ScriptedAgent()

    asyncio.run(serve(load, channels(), int(os.environ["THREADLINE_INBOX_WORKER_PORT"])))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if sys.argv[1:] == ["worker"]:
        worker()
        return
    app = Sanic("threadline_test_bot")
    start_delay = float(os.environ.get("BOT_START_DELAY_S") or 0)

    @app.listener("after_server_start")  # registered first, so it runs before the channels'
    async def slow_start(_app: Sanic, _loop) -> None:
        await asyncio.sleep(start_delay)

    register(channels(), app, route="/webhooks/")

    @app.route("/test/agent-reply", methods=["POST"])
    async def agent_reply(request: Request) -> HTTPResponse:
        """What Rasa's HTTP API does with an agent's reply from the console (a bot event with
        `sent_by: agent`, side effects executed): the channel's output sends it."""
        body = request.json
        channel = {c.name(): c for c in app.ctx.input_channels}[body["channel"]]
        await channel.get_output_channel().send_response(body["customer_id"], {
            "text": body["text"], "sent_by": "agent", "agent_name": body["agent_name"]})
        return response.json({"sent": True})

    @app.listener("before_server_start")
    async def load_agent(app_: Sanic, _loop) -> None:
        app_.ctx.agent = ScriptedAgent()

    app.run(host="127.0.0.1", port=int(os.environ["BOT_PORT"]), access_log=False, workers=1)


if __name__ == "__main__":
    main()
