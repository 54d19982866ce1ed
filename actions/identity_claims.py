"""Identity claims in the dialogue (docs/identity.md, "Claims").

"I'm ana@example.com" (or a phone, or an order number that belongs to another customer)
→ `action_claim_identity` sends a one-time code through that identifier's own channel and
says where, masked (for an order only "the contact details we have", whatever the order)
→ the customer types the code → `action_verify_identity_claim` links, or
merges the two customers. Nothing about the other record is said before the code is right.

The merge is a durable job written with the verification (threadline/identity/merge_jobs.py).
It needs this conversation's lock, which Rasa holds until the turn ends: it runs in this
process right after (`defer_merge`). This process (the action server) also runs every due job
in a sweep when it starts and every merge_jobs.SWEEP_S seconds (`merge_job_sweep`, a rasa_sdk
plugin that threadline.action_server registers), so a merge this process did not finish, because
it was restarted or Redis was away, is finished later. From then on every channel of both
records resolves to the surviving customer, whose tracker holds both histories.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Text

import pluggy
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import DBAPIError

from actions.crm_context import services, texts_of
from actions.session import known_slots, welcome_back
from threadline.crm.interface import CrmUnavailable
from threadline.identity.addresses import InvalidAddress
from threadline.identity.claim_limits import PHONE_COUNTRY, ClaimLimits, ClaimRefused
from threadline.identity.claims import CODE_LIFETIME, ClaimIdentity, ClaimOutcome, NothingToClaim, VerifyClaim
from threadline.identity.ports import CodeSender
from threadline.identity.services import IdentityServices
from threadline.i18n import N_, Texts

log = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})(?!\d)")
MINUTES = int(CODE_LIFETIME.total_seconds() // 60)
# Texts in English (the catalogue's msgids); each is said in the customer's language (`Texts`).
UNAVAILABLE = N_("Sorry, I can't check that right now. Please try again in a few minutes.")
NOT_SENT = N_("Sorry, I couldn't send a code there just now, so nothing is linked. Please try again later, "
              "or ask for a person.")
# The same answer whatever was claimed: an unverified sender learns nothing about anyone.
UNVERIFIED_SENDER = N_("I can't link anything to this conversation from here: your mail server didn't confirm "
                       "this email came from your address. Please write to us from WhatsApp, Instagram or SMS, "
                       "or ask for a person.")
UNVERIFIED_CHANNEL = N_("I can't link anything to this conversation from here. Please write to us from WhatsApp, "
                        "Instagram, SMS or email, or ask for a person.")
REST_PREFIX = "rest:"  # connectors/rest.py: REST senders' conversations (not imported: actions run apart)
REFUSED = N_("Sorry, I can't send another code right now. Please try again later, or ask for a person.")
PHONE_REFUSED = N_("Sorry, I can't send a code to that number. Could you give me your email address instead, "
                   "or ask for a person?")
ORDER_CLAIMED = N_("If order {order_id} is yours, I've sent a 6-digit code to the contact details we have for it. "
                   "Type the code here within {minutes} minutes to link the order to this conversation.")


@dataclass
class ClaimTools:
    services: IdentityServices
    claim: ClaimIdentity
    verify: VerifyClaim  # one per process: it keeps the deferred merge jobs running


_tools: Optional[ClaimTools] = None
_opening = asyncio.Lock()


def use_claim_tools(identity: Optional[IdentityServices], sender: Optional[CodeSender] = None,
                    limits: Optional[ClaimLimits] = None) -> Optional[ClaimTools]:
    """Install the services (tests), or None to open them from the environment on next use."""
    global _tools
    _tools = None if identity is None else ClaimTools(
        identity, ClaimIdentity(identity.db, sender, limits or ClaimLimits.from_env(identity.redis_url)),
        VerifyClaim(identity.db, identity.index, identity.merge()))
    return _tools


async def claim_tools() -> ClaimTools:
    async with _opening:
        if _tools is None:
            from connectors.code_sender import ChannelCodeSender  # the channels: only when a claim happens

            identity = await asyncio.to_thread(IdentityServices.from_env)
            use_claim_tools(identity, ChannelCodeSender.from_env(identity.redis_url))
    return _tools


STOP_GRACE_S = 5.0


@dataclass
class MergeJobSweep:
    """A rasa_sdk plugin: the action server runs due merge jobs from its start until it stops."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: Optional[asyncio.Task] = None

    @pluggy.HookimplMarker("rasa_sdk")
    def attach_sanic_app_extensions(self, app: Any) -> None:
        app.register_listener(self._start, "after_server_start")
        app.register_listener(self._finish, "before_server_stop")

    async def _start(self, _app: Any, _loop: Any) -> None:
        self.stop = asyncio.Event()  # on the server's loop
        self.task = asyncio.create_task(self.sweep())

    async def _finish(self, _app: Any, _loop: Any) -> None:
        """Let a running merge finish for a moment, then stop: its job stays pending, to be
        finished by the next start (the merge resumes where it stopped)."""
        self.stop.set()
        if self.task is not None:
            done, _ = await asyncio.wait({self.task}, timeout=STOP_GRACE_S)
            if not done:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)

    async def sweep(self) -> None:
        from threadline.identity.merge_jobs import SWEEP_S

        while not self.stop.is_set():
            try:
                tools = await claim_tools()
            except Exception as error:  # the CRM or Redis not there yet: the jobs wait in their table
                log.warning("merge jobs sweep not started: %s; retrying in %.0fs", type(error).__name__, SWEEP_S)
                try:
                    await asyncio.wait_for(self.stop.wait(), SWEEP_S)
                except asyncio.TimeoutError:
                    pass
                continue
            await tools.verify.jobs.sweep_forever(self.stop)


merge_job_sweep = MergeJobSweep()


def from_unverified_sender(tracker: Tracker) -> bool:
    """Whether the message being answered comes from a sender nobody vouched for: mail whose
    From no trusted server confirmed (connectors/email/channel.py sets `sender_verified`), or
    the REST channel, which has no authentication at all (connectors/rest.py). Such a sender
    never claims or links."""
    if tracker.sender_id.startswith(REST_PREFIX):
        return True
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata.get("sender_verified") is False


def refuse_unverified(dispatcher: CollectingDispatcher, tracker: Tracker, action: str) -> bool:
    if not from_unverified_sender(tracker):
        return False
    rest = tracker.sender_id.startswith(REST_PREFIX)
    log.warning("%s refused: %s", action, "the REST channel is not authenticated" if rest
                else "the mail's From address is not authenticated")
    dispatcher.utter_message(text=texts_of(tracker).gettext(UNVERIFIED_CHANNEL if rest else UNVERIFIED_SENDER))
    return True


def code_in(tracker: Tracker) -> Optional[str]:
    """The 6-digit code of the latest message: the NLU entity, else the digits in the text."""
    value = next(tracker.get_latest_entity_values("verification_code"), None)
    text = str(value) if value else (tracker.latest_message or {}).get("text") or ""
    match = CODE_PATTERN.search(text)
    return match.group(1) + match.group(2) if match else None


async def start_claim(dispatcher: CollectingDispatcher, customer_id: str, texts: Texts, *,
                      contact: Optional[str] = None, order_id: Optional[str] = None) -> Optional[List[Dict[Text, Any]]]:
    """Send a code for `contact` (email or phone) or `order_id` and say where; the events to
    return, or None when there is nothing to prove (already theirs)."""
    try:
        tools = await claim_tools()
        if contact:
            started = await tools.claim(customer_id, contact, texts.language)
        else:
            await tools.claim.order(customer_id, order_id, texts.language)
    except NothingToClaim:
        return None
    except InvalidAddress:
        dispatcher.utter_message(text=texts.gettext(
            "I couldn't read that as an email address or a phone number with its country code "
            "(like +55 11 98765-4321). Could you write it again?"))
        return []
    except ClaimRefused as refused:  # logged with its reason where it was refused
        dispatcher.utter_message(text=texts.gettext(PHONE_REFUSED if refused.reason == PHONE_COUNTRY else REFUSED))
        return []
    except (RuntimeError, OSError, DBAPIError, CrmUnavailable) as error:
        log.warning("identity claim not started: %s", error.__class__.__name__)
        dispatcher.utter_message(text=texts.gettext(NOT_SENT))
        return []
    if contact:
        dispatcher.utter_message(text=texts.gettext(
            "To link {address} to this conversation, I've sent it a 6-digit code. Type the code here within "
            "{minutes} minutes.").format(address=started.sent_to, minutes=texts.number(MINUTES)))
        return []
    # The same words whether the order exists, has an owner, or got a code: nothing about
    # someone else's order until the code is right.
    dispatcher.utter_message(text=texts.gettext(ORDER_CLAIMED).format(
        order_id=order_id.strip().upper(), minutes=texts.number(MINUTES)))
    return [SlotSet("order_id", None)]


class ActionClaimIdentity(Action):
    """An email, phone or order number given out of the blue: prove it, or just note it."""

    def name(self) -> Text:
        return "action_claim_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if refuse_unverified(dispatcher, tracker, self.name()):
            return [SlotSet("order_id", None)]
        contact = (next(tracker.get_latest_entity_values("email"), None)
                   or next(tracker.get_latest_entity_values("phone"), None))
        order_id = next(tracker.get_latest_entity_values("order_id"), None)
        events = None
        if contact or order_id:
            events = await start_claim(dispatcher, tracker.sender_id, texts_of(tracker),
                                       contact=contact and str(contact),
                                       order_id=None if contact else str(order_id))
        if events is None:
            dispatcher.utter_message(response="utter_got_order_number" if order_id and not contact
                                     else "utter_got_contact", order_id=order_id)
            return []
        return events


class ActionVerifyIdentityClaim(Action):
    def name(self) -> Text:
        return "action_verify_identity_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if refuse_unverified(dispatcher, tracker, self.name()):
            return []
        texts = texts_of(tracker)
        code = code_in(tracker)
        if code is None:
            dispatcher.utter_message(text=texts.gettext("Please type the 6-digit code on its own."))
            return []
        try:
            tools = await claim_tools()
            outcome = await tools.verify(tracker.sender_id, code, defer_merge=True)
        except (RuntimeError, OSError, DBAPIError) as error:
            log.warning("identity code not checked: %s", error.__class__.__name__)
            dispatcher.utter_message(text=texts.gettext(UNAVAILABLE))
            return []
        if outcome.status != "verified":
            dispatcher.utter_message(text=refusal(outcome, texts))
            return []
        if outcome.customer_id == tracker.sender_id:
            dispatcher.utter_message(
                text=texts.gettext("Thanks, that's confirmed: it's linked to this conversation now."))
            return []
        return await self._merged(dispatcher, domain, outcome.customer_id, texts)

    @staticmethod
    async def _merged(dispatcher: CollectingDispatcher, domain: Dict[Text, Any],
                      survivor: str, texts: Texts) -> List[Dict[Text, Any]]:
        """The two records are one person now: greet them with what the other one knew."""
        confirmed = texts.gettext(
            "Thanks, that's confirmed: this conversation is now linked with your earlier messages to us.")
        try:
            crm = await services()
            profile = await crm.crm.profile(survivor)
            line = await welcome_back(profile, crm, texts)
        except CrmUnavailable:
            dispatcher.utter_message(text=confirmed)
            return []
        dispatcher.utter_message(text=f"{confirmed} {line}" if line else confirmed)
        return [SlotSet(name, value) for name, value in known_slots(profile).items()
                if name in (domain.get("slots") or {})]


def refusal(outcome: ClaimOutcome, texts: Texts) -> str:
    _ = texts.gettext
    if outcome.status == "wrong_code":
        tries = outcome.attempts_left
        return texts.ngettext("That code isn't right. You have {tries} more try.",
                              "That code isn't right. You have {tries} more tries.", tries
                              ).format(tries=texts.number(tries))
    if outcome.status == "locked":
        return _("That code isn't right, and that was the last try, so nothing is linked. "
                 "You can ask for a new code in a while.")
    if outcome.status == "expired":
        return _("That code has expired (codes last {minutes} minutes), so nothing is linked. "
                 "Give me the address again and I'll send a new one.").format(minutes=texts.number(MINUTES))
    return _("I'm not waiting for a code from you. To link an email, a phone or an order, just tell me which.")
