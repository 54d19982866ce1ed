"""Fixtures for the console: a CRM database on SQLite, two agents, an escalated customer and
the console app served in the test's event loop (aiohttp's test server, real Redis)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pytest
from aiohttp.test_utils import TestClient, TestServer

from threadline.console.agents import AddAgent
from threadline.console.app import console_app
from connectors.webhook.records import ChannelRecords
from threadline.conversation.redis_connection import connect
from threadline.crm import Database
from threadline.handoff.rasa_api import RasaApi
from threadline.handoff.store import OpenHandoff
from threadline.identity.services import IdentityServices
from tests.support.redis_server import free_port
from tests.support.sandbox import page_headers, serve_sandbox

PASSWORDS = {"ana": "ana-secret-password", "bruno": "bruno-secret-password"}
WA_ID = "5511987654321"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    yield database
    database.dispose()


@pytest.fixture
def agents(db) -> dict:
    return {name: AddAgent(db)(name, password) for name, password in PASSWORDS.items()}


@dataclass
class Escalation:
    customer_id: str
    handoff_id: str


async def escalate(db: Database, redis_url: str, channel: str, address: str, *, reason: str = "requested",
                   summary_text: str = "Ana wants to talk to a person about her order.",
                   name: Optional[str] = None) -> Escalation:
    """A customer who wrote from (channel, address) and was handed to a person."""
    identities = IdentityServices(db, redis_url)
    try:
        customer_id = await identities.resolver.resolve(channel, address, profile_name=name)
    finally:
        await identities.index.close()
    opened = await OpenHandoff(db)(customer_id, reason=reason, channel=channel,
                                   summary_text=summary_text, summary={"next_step": "Call her back."})
    return Escalation(customer_id, opened.handoff.id)


@pytest.fixture
async def escalation(db, redis_url) -> Escalation:
    return await escalate(db, redis_url, "whatsapp", WA_ID, name="Ana Souza")


async def serve_console(db: Database, redis_url: str, rasa: RasaApi):
    redis = connect(redis_url)
    client = TestClient(TestServer(console_app(db, redis, rasa, ChannelRecords(redis).opted_out, poll_s=0.2)))
    await client.start_server()
    return client, redis


@pytest.fixture
async def console(db, redis_url, agents):
    """The console; its Rasa API points at a closed port (these tests never reach Rasa)."""
    client, redis = await serve_console(db, redis_url, RasaApi(f"http://127.0.0.1:{free_port()}", "unused"))
    yield client
    await client.close()
    await redis.close()


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def log_in(client: TestClient, name: str, password: str = ""):
    """Log in through the form, as a browser does; returns the response to the POST."""
    page = await client.get("/login")
    form = {"csrf_token": csrf_in(await page.text()), "name": name, "password": password or PASSWORDS[name],
            "next": "/"}
    return await client.post("/login", data=form, allow_redirects=False)


async def page_token(client: TestClient, path: str) -> str:
    """The CSRF token the page at `path` puts in its forms (the session's)."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return csrf_in(await response.text())


# --- the real assistant: Rasa server, action server, CRM timeline consumer, sandbox -----------

@pytest.fixture(scope="module")
def stack(assistant_stack):
    """Rasa with the trained model behind the real connectors, the action server and the CRM
    timeline consumer, as `make run` starts them (the session's, shared with other files: its
    CRM holds their customers too); the sandbox provider runs in the test."""
    return assistant_stack


@pytest.fixture
async def provider(stack):
    async with serve_sandbox(stack.env, stack.sandbox_port) as sandbox:
        yield sandbox


@pytest.fixture
def stack_db(stack):
    database = Database(stack.env["CRM_DATABASE_URL"])
    yield database
    database.dispose()


async def customer_writes(stack, channel: str, address: str, text: str) -> None:
    """The customer sends `text` through the sandbox: a signed webhook to the real connector."""
    import aiohttp

    async with aiohttp.ClientSession(headers=page_headers(stack.env)) as session:
        async with session.post(f"http://127.0.0.1:{stack.sandbox_port}/sandbox/inbound",
                                json={"channel": channel, "address": address, "text": text}) as response:
            assert (await response.json())["webhook_status"] == 200


def sent_texts(sandbox, channel: str, to: str) -> list:
    """What the sandbox provider received for (channel, to), as the customer would read it."""
    return [_text(s) for s in sandbox.sent if s["channel"] == channel and s["to"] == to]


def _text(sent: dict) -> str:
    body = sent["body"]
    if "Body" in body:
        return body["Body"]
    if "text" in body and isinstance(body["text"], dict):
        return body["text"].get("body") or ""
    if "message" in body:
        return body["message"].get("text") or ""
    return body.get("interactive", {}).get("body", {}).get("text", "")
