"""The trained assistant on the project's own Redis tracker and lock stores, for tests that run
real conversations: one model load per test process (the session's `trained_processor`
fixture), a fresh `Agent` per test or module around it, sharing only the read-only graph."""
from __future__ import annotations

import contextlib
import copy
from typing import AsyncIterator, Optional

import pytest
from rasa.core.agent import Agent
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.utils.endpoints import EndpointConfig

from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.training import model_path


def load_processor(action_endpoint: Optional[EndpointConfig] = None) -> MessageProcessor:
    if not model_path().is_file():
        pytest.fail("no trained model: run 'make train' first (make test does)")
    return Agent.load(model_path(), action_endpoint=action_endpoint).processor


def agent_with_stores(processor: MessageProcessor, tracker_store, lock_store,
                      action_url: Optional[str] = None) -> Agent:
    """An Agent sharing the loaded model, with its own stores (and action server, if given)."""
    agent = Agent(domain=processor.domain, tracker_store=tracker_store, lock_store=lock_store)
    agent.processor = copy.copy(processor)
    agent.processor.tracker_store, agent.processor.lock_store = tracker_store, lock_store
    if action_url:
        agent.processor.action_endpoint = EndpointConfig(url=action_url)
    return agent


def in_memory_agent(processor: MessageProcessor, action_endpoint: Optional[EndpointConfig] = None) -> Agent:
    """What `Agent.load(model, action_endpoint=...)` gives (in-memory tracker and lock stores),
    around the already loaded model."""
    agent = agent_with_stores(processor, InMemoryTrackerStore(processor.domain), InMemoryLockStore())
    agent.processor.action_endpoint = action_endpoint
    return agent


@contextlib.asynccontextmanager
async def assistant_on_redis(processor: MessageProcessor, redis_url: str,
                             action_url: Optional[str] = None) -> AsyncIterator[Agent]:
    """`agent_with_stores` on the customer-keyed Redis stores; the stores are closed after."""
    tracker_store, lock_store = CustomerTrackerStore(host=redis_url), CustomerLockStore(url=redis_url)
    try:
        yield agent_with_stores(processor, tracker_store, lock_store, action_url)
    finally:
        await tracker_store.close()
        await lock_store.close()
