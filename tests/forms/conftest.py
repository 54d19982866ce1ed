"""Real conversations for the form tests: the trained model on the project's Redis tracker and
lock stores, the project's action server on a seeded SQLite CRM (the demo shop), as `make run`
has them. Needs models/threadline.tar.gz (`make train`)."""
from __future__ import annotations

from datetime import date
from typing import List

import pytest
from rasa.core.agent import Agent
from rasa.core.channels import UserMessage

from tests.support.assistant import assistant_on_redis
from tests.support.channel_output import ChannelOutput
from tests.support.processes import action_server
from threadline.crm import Database
from threadline.crm.demo_shop import SeedDemoShop


@pytest.fixture(scope="module")
def actions_url(tmp_path_factory, redis_server):
    """One action server and CRM per test file: each test writes as customers of its own."""
    folder = tmp_path_factory.mktemp("forms-actions")
    crm_url = f"sqlite:///{folder / 'crm.sqlite3'}"
    database = Database(crm_url)
    SeedDemoShop(database, date.today())()
    database.dispose()
    with action_server({"CRM_DATABASE_URL": crm_url, "REDIS_URL": redis_server.url}, folder / "actions.log") as url:
        yield url


@pytest.fixture
async def assistant(trained_processor, actions_url, redis_url):
    async with assistant_on_redis(trained_processor, redis_url, actions_url) as agent:
        yield agent


class Customer:
    """One customer writing on one channel, message after message, as a connector hands them to Rasa."""

    def __init__(self, agent: Agent, customer_id: str, channel: str = "whatsapp") -> None:
        self.agent, self.customer_id, self.channel = agent, customer_id, channel
        self.sent = 0

    async def says(self, text: str) -> List[str]:
        self.sent += 1
        output = ChannelOutput(self.channel)
        message_id = f"{self.customer_id}-{self.sent}"
        await self.agent.handle_message(UserMessage(
            text, output, self.customer_id, input_channel=self.channel, message_id=message_id,
            metadata={"channel": self.channel, "address": self.customer_id, "provider_message_id": message_id}))
        return [m.get("text", "") for m in output.messages]

    async def slots(self) -> dict:
        tracker = await self.agent.processor.tracker_store.retrieve(self.customer_id)
        return tracker.current_slot_values()

    async def active_form(self):
        tracker = await self.agent.processor.tracker_store.retrieve(self.customer_id)
        return tracker.active_loop_name
