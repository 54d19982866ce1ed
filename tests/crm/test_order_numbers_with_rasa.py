"""Order numbers through Rasa's own dialogue machinery, without a trained model: the rule-based
extractor reads the message, Rasa's `action_extract_slots` and the form (rasa.core) fill and
validate `order_id` through the project's action server, and `action_order_status` answers
from a real SQLite CRM. What the policies would predict is the model's business (the Rasa
test stories); this is the part `make run` runs after it."""
from __future__ import annotations

from typing import List

import pytest
from rasa.core.actions.action import ActionExtractSlots, RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from tests.crm.shop import give_orders
from tests.nlu.test_structured_entities import trained_then_loaded
from tests.support.processes import action_server
from threadline.settings import PROJECT_DIR

DOMAIN = Domain.load(str(PROJECT_DIR / "domain.yml"))
ASK = "What's your order number? It starts with TL, like TL-48213, and it's in your confirmation email."


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    return trained_then_loaded(tmp_path_factory.mktemp("extractor"))


@pytest.fixture
def endpoint(crm_url, redis_url, tmp_path, database):
    give_orders(database, {"TL-48213": "cus_ana", "TL-70315": "cus_bob"})
    # The messages here skip the NLU, so none has a language: without this the customer would be
    # answered in the assistant's default for such a new customer, Portuguese.
    env = {"CRM_DATABASE_URL": crm_url, "REDIS_URL": redis_url, "THREADLINE_DEFAULT_LANGUAGE": "en"}
    with action_server(env, tmp_path / "actions.log") as url:
        yield EndpointConfig(url=url)


class Conversation:
    def __init__(self, sender_id: str, endpoint: EndpointConfig, extractor) -> None:
        self.tracker = DialogueStateTracker.from_events(sender_id, [], slots=DOMAIN.slots)
        self.endpoint, self.extractor = endpoint, extractor
        self.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)

    async def says(self, text: str, intent: str) -> None:
        entities = self.extractor.extract(text)
        self.tracker.update(ActionExecuted("action_listen"))  # a form validates what follows a listen
        self.tracker.update(UserUttered(text, {"name": intent, "confidence": 0.95}, entities))
        await self._run(ActionExtractSlots(self.endpoint))

    async def form(self, name: str) -> List[str]:
        return await self._run(FormAction(name, self.endpoint))

    async def action(self, name: str) -> List[str]:
        return await self._run(RemoteAction(name, self.endpoint))

    async def _run(self, action) -> List[str]:
        events: List[Event] = await action.run(CollectingOutputChannel(), self.nlg, self.tracker, DOMAIN)
        self.tracker.update_with_events(events, DOMAIN)
        if not isinstance(action, ActionExtractSlots):
            self.tracker.update(ActionExecuted(action.name()))
        return [e.text for e in events if isinstance(e, BotUttered)]


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_bare_digits_answer_the_forms_question_and_find_the_customers_order(endpoint, extractor):
    ana = Conversation("cus_ana", endpoint, extractor)
    await ana.says("where is my order?", "order_status")
    assert await ana.form("order_status_form") == [ASK]
    await ana.says("48213", "provide_order_number")
    assert ana.tracker.get_slot("order_id") == "48213"  # only because the form asked for it
    assert await ana.form("order_status_form") == []
    assert (ana.tracker.get_slot("order_id"), ana.tracker.active_loop_name) == ("TL-48213", None)
    [answer] = await ana.action("action_order_status")
    assert answer.startswith("Your order TL-48213 (1 × Drift Running Shoes) has shipped with Correios")


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_pedido_48213_up_front_fills_the_form_and_another_customers_digits_are_not_found(endpoint, extractor):
    ana = Conversation("cus_ana", endpoint, extractor)
    await ana.says("oi, cadê meu pedido 48213?", "order_status")
    assert ana.tracker.get_slot("order_id") == "48213"
    assert await ana.form("order_status_form") == []
    assert ana.tracker.get_slot("order_id") == "TL-48213"

    # Ana types the number of Bob's order: "couldn't find", as for any number, and the form asks again.
    ana = Conversation("cus_ana", endpoint, extractor)
    await ana.says("where is order 70315?", "order_status")
    assert await ana.form("order_status_form") == ["I couldn't find order 70315.", ASK]
    assert ana.tracker.get_slot("order_id") is None


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_digits_out_of_the_blue_are_not_an_order_number(endpoint, extractor):
    ana = Conversation("cus_ana", endpoint, extractor)
    await ana.says("quero 48213 unidades", "provide_quantity")
    assert ana.tracker.get_slot("order_id") is None
