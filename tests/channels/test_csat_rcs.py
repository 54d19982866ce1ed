"""The CSAT question on RCS (issue #21): five suggested replies through the sandbox's RBM API,
each carrying its rating payload, and the customer's current offer is those five."""
from __future__ import annotations

from rasa.shared.core.events import BotUttered

from connectors.webhook.records import ChannelRecords
from threadline.insights.csat import payload, question
from tests.channels.test_rcs_output import CUSTOMER, rig  # noqa: F401  (the RCS output rig)
from tests.support.rcs import rcs_sent


async def test_the_csat_question_is_five_suggested_replies_on_rcs(rig):  # noqa: F811
    output, provider, redis = rig
    event = question("pt", "rcs")
    # What Rasa hands the output channel for this bot event (execute_side_effects).
    await output.send_response(CUSTOMER, BotUttered(event["text"], event["data"], event["metadata"]).message())
    [sent] = rcs_sent(provider)
    message = sent["body"]["contentMessage"]
    assert message["text"] == "Que nota você dá para o atendimento de hoje, de 1 (muito ruim) a 5 (excelente)?"
    assert [(s["reply"]["text"], s["reply"]["postbackData"]) for s in message["suggestions"]] == [
        ("1 - Muito ruim", payload(1)), ("2 - Ruim", payload(2)), ("3 - Regular", payload(3)),
        ("4 - Bom", payload(4)), ("5 - Excelente", payload(5))]
    offer = await ChannelRecords(redis).current_offer(CUSTOMER)
    assert offer.offers_payload('/csat_rating{"csat_score":"4"}')  # a tapped "4 - Bom" reaches Rasa
