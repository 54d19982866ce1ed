"""`action_record_csat`: a CSAT answer (1-5) recorded against the customer's open CSAT request.

The question (threadline/insights/csat.py) offers five options whose payloads are
`/csat_rating{"csat_score":"N"}`; a tapped button, an RCS suggestion, an Instagram quick reply,
a WhatsApp list row or the option's number by SMS/email arrives as that payload
(connectors/webhook/offers.py). A typed "5 out of 5" arrives as the intent without the entity:
its first digit 1-5 is the score. Recorded once (the first answer wins), then utter_csat_thanks.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import services
from threadline.insights.csat import record_answer, score_of

log = logging.getLogger(__name__)


class ActionRecordCsat(Action):
    def name(self) -> Text:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        score: Optional[int] = score_of(next(tracker.get_latest_entity_values("csat_score"), None),
                                        (tracker.latest_message or {}).get("text"))
        if score is not None:
            try:
                database = (await services()).database
                if database is not None:
                    recorded = await database.run(lambda s: record_answer(s, tracker.sender_id, score))
                    log.info("csat: customer %s answered (%s)", tracker.sender_id,
                             "recorded" if recorded else "no open request")
            except Exception as error:  # the thanks still goes out; the CRM being down is logged
                log.error("csat: answer of customer %s not recorded: %s", tracker.sender_id, type(error).__name__)
        dispatcher.utter_message(response="utter_csat_thanks")
        return []
