"""`make bench-turn-size`: bytes a customer's turn leaves in Redis, through Rasa's real processor.

A conversation of CONVERSATION's messages (English and Brazilian Portuguese, with entities) per
customer is sent through the trained model with the webhook channel's metadata (channel,
address, provider message id, message type, profile name), the project's action server and
CustomerTrackerStore, as `make run` has them. Bytes per turn = the serialized events a customer's
history holds in Redis (session start included) divided by its user messages; the largest single turn
(a user event up to the next one) is reported too, and Redis' own MEMORY USAGE of the keys.

`--label before|after` names the entry written into results/bench/turn_size.json (other
entries are kept, so a change's before and after sit side by side).
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import json
import tempfile
from pathlib import Path
from typing import Dict, List

from rasa.core.agent import Agent
from rasa.core.channels import CollectingOutputChannel, UserMessage
from rasa.utils.endpoints import EndpointConfig

from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.settings import PROJECT_DIR
from tests.support.assistant import agent_with_stores, load_processor
from tests.support.processes import action_server
from tests.support.redis_server import RedisServer

OUT = PROJECT_DIR / "results" / "bench" / "turn_size.json"
CUSTOMERS = 5
CONVERSATION = [
    "hi", "where is my order 12345?", "it was supposed to arrive yesterday", "thanks!",
    "oi, tudo bem?", "quero devolver o tênis que comprei ontem, pedido 98765",
    "qual o prazo de reembolso?", "obrigado", "can I talk to a person?", "bye",
]


def webhook_metadata(customer: int, number: int) -> Dict[str, object]:
    """What connectors/webhook/events.py puts on a WhatsApp text message."""
    return {"channel": "whatsapp", "address": f"+55119876{customer:05d}",
            "provider_message_id": f"wamid.HBgNNTUxMTk4NzYwMDAwMBUCABIYFDNBQjE{customer:04d}{number:04d}",
            "message_type": "text", "profile_name": "Maria Silva", "customer_id": f"cus_{customer}"}


def per_turn(raw_events: List[bytes]) -> List[int]:
    """Stored bytes of each turn: a user event and everything up to the next one."""
    sizes: List[int] = []
    for raw in raw_events:
        size = len(raw)
        if json.loads(raw).get("event") == "user":
            sizes.append(size)
        elif sizes:
            sizes[-1] += size
    return sizes


async def measure(processor, redis_url: str) -> dict:
    store, locks = CustomerTrackerStore(host=redis_url), CustomerLockStore(url=redis_url)
    agent: Agent = agent_with_stores(processor, store, locks)
    agent.processor = copy.copy(agent.processor)
    try:
        for customer in range(CUSTOMERS):
            for number, text in enumerate(CONVERSATION):
                meta = webhook_metadata(customer, number)
                await agent.handle_message(UserMessage(
                    text, CollectingOutputChannel(), f"cus_{customer}", input_channel="whatsapp",
                    message_id=str(meta["provider_message_id"]), metadata=meta))
        total = users = redis_bytes = 0
        turns: List[int] = []
        user_event_sizes: List[int] = []
        for customer in range(CUSTOMERS):
            raw = await store.log.read(f"cus_{customer}")
            total += sum(len(e) for e in raw)
            turns += per_turn(raw)
            users += len(turns) - len(user_event_sizes)
            user_event_sizes += [len(e) for e in raw if json.loads(e)["event"] == "user"]
            for key in store.log.keys_for(f"cus_{customer}")[:3] + [store.log.turns_key(f"cus_{customer}")]:
                redis_bytes += await store.log.client.memory_usage(key) or 0
        return {
            "customers": CUSTOMERS, "messages_per_customer": len(CONVERSATION),
            "stored_bytes_per_turn": round(total / users), "largest_turn_bytes": max(turns),
            "user_event_bytes_mean": round(sum(user_event_sizes) / len(user_event_sizes)),
            "redis_memory_usage_per_turn": round(redis_bytes / users),
        }
    finally:
        await store.close()
        await locks.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    redis = RedisServer()
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {"CRM_DATABASE_URL": f"sqlite:///{Path(folder) / 'crm.sqlite3'}"}
            with action_server(env, Path(folder) / "actions.log") as url:
                processor = load_processor(EndpointConfig(url=url))
                figures = asyncio.run(measure(processor, redis.url))
    finally:
        redis.stop()
    results = json.loads(OUT.read_text()) if OUT.is_file() else {
        "benchmark": "stored bytes per turn (bench/turn_size.py)", "runs": {}}
    results["runs"][args.label] = figures
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{args.label}: {figures['stored_bytes_per_turn']} B per turn stored "
          f"(largest turn {figures['largest_turn_bytes']} B, Redis MEMORY USAGE "
          f"{figures['redis_memory_usage_per_turn']} B per turn)")


if __name__ == "__main__":
    main()
