"""Escalate sensitive topics and strongly negative messages, whatever the classifier says.

Runs last in the NLU pipeline. When a message meets a trigger of data/handoff_triggers.yml
(threadline/handoff/triggers.py) its intent becomes one the rules already hand over on:
`request_human` for a sensitive topic, `complaint` for strongly negative language. The parse
data gets `escalation: {reason, detail, intent}` (`intent`: what the classifier said), which
`action_handoff` records as the handoff's reason.

Why here and not in a policy or a slot: the existing rules (including those that interrupt
forms) then cover it with no new training data or stories; it works at any classifier
confidence (an angry message the classifier is unsure of is not sent to the two-stage
fallback); and it is deterministic. The trigger file is read when the model is loaded, so a
designer's edit needs a restart, not a retrain.

    - name: threadline.nlu.escalation.EscalationDetector
      triggers: data/handoff_triggers.yml
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from threadline.handoff.triggers import Triggers
from threadline.settings import PROJECT_DIR

ESCALATION = "escalation"
INTENT_FOR = {"sensitive_topic": "request_human", "negative_sentiment": "complaint"}
# A complaint is already handed over as a complaint; only a sensitive topic re-labels it.
KEEP_INTENTS = {"negative_sentiment": {"complaint", "request_human"}, "sensitive_topic": set()}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EscalationDetector(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"triggers": "data/handoff_triggers.yml"}

    def __init__(self, triggers: Triggers) -> None:
        self.triggers = triggers

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "EscalationDetector":
        path = Path(config["triggers"])
        return cls(Triggers.load(path if path.is_absolute() else PROJECT_DIR / path))

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            escalation = self.triggers.escalation(text) if text else None
            if escalation is None:
                continue
            said = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if said in KEEP_INTENTS[escalation.reason]:
                continue
            message.set(ESCALATION, {**escalation.as_dict(), "intent": said}, add_to_output=True)
            message.set(INTENT, {INTENT_NAME_KEY: INTENT_FOR[escalation.reason], PREDICTED_CONFIDENCE_KEY: 1.0},
                        add_to_output=True)
        return messages
