"""Channel addresses → normalised identifiers, the keys that decide who a message is from.

A provider address (what WhatsApp, Instagram, Twilio or a mail server tells us) becomes an
`Identifier`: a kind and a canonical value. Two addresses are the same person exactly when
their identifiers are equal, so every rule here is a decision about who is who:

- phones are E.164 (`+5511987654321`), whatever the channel wrote: WhatsApp ids without `+`,
  Twilio's `whatsapp:+…` and `rcs:+…`, spaces and dashes. The same phone on WhatsApp, SMS and
  RCS is one key.
- Brazil: mobile numbers gained a ninth digit in 2012-2016. WhatsApp still sends some ids in
  the old form (`559281723241` for +55 92 98172-3241). A Brazilian number with 8 local digits
  whose first digit is 6-9 AND that is not a valid number today is an old-form mobile and is
  canonicalised to the 9-digit form. Some 8-digit numbers starting with 7 are still valid
  (radio/trunking ranges in libphonenumber's metadata): those are left alone, because joining
  two valid numbers could show one person's history to another.
- Mexico: mobiles used to be dialled `+52 1 …` and WhatsApp ids still look like `521…`
  (13 digits). The `1` is dropped (`+52` + 10 digits); the `521…` form is not a valid number
  today, so this never joins two valid numbers either.
- emails are the lowercased addr-spec (`"Ana" <Ana@Example.com>` → `ana@example.com`).
- Instagram ids (IGSID) and WhatsApp business-scoped user ids (`BR.123…`) are opaque and
  only ever equal to themselves.
- web chat addresses (connectors/webchat) are opaque too: `v.<hash>` for an anonymous visitor
  (the hash of the server-issued visitor token, never the token itself) and `u.<site user id>`
  for a visitor the site vouched for with a signed token. Neither is a phone or an email.
- a mail whose From address no trusted server vouched for (docs/email.md, "Who wrote this
  mail") is `email_unverified:<address>`: a namespace of its own, so such mail never reaches
  the customer who owns `email:<address>`, yet one sender's mails stay in one conversation.

The reply always goes to the exact address the provider gave; identifiers are for matching.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

import phonenumbers

CHANNELS = ("whatsapp", "instagram", "sms", "rcs", "email", "webchat")

PHONE = "phone"
EMAIL = "email"
INSTAGRAM = "instagram"
WHATSAPP_USER = "wa_user"
EMAIL_UNVERIFIED = "email_unverified"
WEBCHAT_VISITOR = "webchat_visitor"
WEBCHAT_USER = "webchat_user"

_TWILIO_WHATSAPP = "whatsapp:"
_TWILIO_RCS = "rcs:"
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"\+?\d+")
_OPAQUE_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class InvalidAddress(ValueError):
    """The address cannot name anyone on that channel (empty, not a phone, not an email...)."""


@dataclass(frozen=True)
class Identifier:
    """A normalised identifier: `kind` is phone/email/instagram/wa_user, `value` canonical."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def from_key(cls, key: str) -> "Identifier":
        kind, _, value = key.partition(":")
        return cls(kind, value)


def normalize_phone(raw: str) -> str:
    """Canonical E.164 for a phone written any way a provider or a person writes it.

    Raises InvalidAddress when it is not a possible phone number.
    """
    text = _PHONE_PUNCTUATION.sub("", raw.strip())
    if text.lower().startswith(_TWILIO_WHATSAPP):
        text = text[len(_TWILIO_WHATSAPP):]
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _DIGITS.fullmatch(text):
        raise InvalidAddress("not a phone number")
    if not text.startswith("+"):
        text = "+" + text  # WhatsApp ids are E.164 digits without the plus
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress("not a phone number") from exc
    national = str(number.national_number)
    if (number.country_code == 55 and len(national) == 10 and national[2] in "6789"
            and not phonenumbers.is_valid_number(number)):
        national = national[:2] + "9" + national[2:]  # old-form Brazilian mobile
    elif number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        national = national[1:]  # Mexican mobile with the retired `1`
    canonical = f"+{number.country_code}{national}"
    if not phonenumbers.is_possible_number(phonenumbers.parse(canonical, None)):
        raise InvalidAddress("not a possible phone number")
    return canonical


def normalize_email(raw: str) -> str:
    """Lowercased addr-spec of an address or a `Name <addr>` header value."""
    _, addr = parseaddr(raw.strip())
    addr = addr.strip().lower()
    if not _EMAIL.fullmatch(addr):
        raise InvalidAddress("not an email address")
    return addr


def _opaque(raw: str, what: str) -> str:
    value = raw.strip()
    if not _OPAQUE_ID.fullmatch(value):
        raise InvalidAddress(f"not {what}")
    return value


def identifier_for(channel: str, address: str) -> Identifier:
    """The identifier behind an address exactly as `channel`'s provider gave it."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddress("empty address")
    if channel == "email":
        return Identifier(EMAIL, normalize_email(address))
    if channel == "instagram":
        return Identifier(INSTAGRAM, _opaque(address, "an Instagram id"))
    if channel in ("sms", "rcs"):  # RCS (Google RBM, Twilio) addresses are the E.164 phone
        phone = address.strip()
        if phone.lower().startswith(_TWILIO_RCS):  # Twilio's RCS sender: `rcs:+5511…`
            phone = phone[len(_TWILIO_RCS):]
        return Identifier(PHONE, normalize_phone(phone))
    if channel == "whatsapp":
        stripped = _PHONE_PUNCTUATION.sub("", address.strip())
        if stripped.lower().startswith(_TWILIO_WHATSAPP):
            stripped = stripped[len(_TWILIO_WHATSAPP):]
        if _DIGITS.fullmatch(stripped):
            return Identifier(PHONE, normalize_phone(stripped))
        # Business-scoped user id: users with a WhatsApp username may arrive with no phone.
        return Identifier(WHATSAPP_USER, _opaque(address, "a WhatsApp id"))
    if channel == "webchat":
        kind = {"v.": WEBCHAT_VISITOR, "u.": WEBCHAT_USER}.get(address[:2])
        if kind is None:
            raise InvalidAddress("not a web chat address")
        return Identifier(kind, _opaque(address[2:], "a web chat id"))
    raise InvalidAddress(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")


def identifiers_for(channel: str, address: str, attributes: dict | None = None) -> list[Identifier]:
    """All identifiers one inbound message proves: the address, plus WhatsApp's `user_id`."""
    found = [identifier_for(channel, address)]
    user_id = (attributes or {}).get("user_id") if channel == "whatsapp" else None
    if user_id:
        extra = Identifier(WHATSAPP_USER, _opaque(str(user_id), "a WhatsApp user id"))
        if extra not in found:
            found.append(extra)
    return found


def unverified_identifier_for(channel: str, address: str) -> Identifier:
    """The identifier of an unauthenticated sender: only email has them (every other channel's
    provider vouches for the address it gives)."""
    if channel != "email":
        raise InvalidAddress(f"only email senders can be unverified, not {channel!r}")
    return Identifier(EMAIL_UNVERIFIED, identifier_for(channel, address).value)


def claimed_identifier(text: str) -> Identifier:
    """What a customer typed when saying who they are: an email or an international phone."""
    value = text.strip()
    if "@" in value:
        return Identifier(EMAIL, normalize_email(value))
    return Identifier(PHONE, normalize_phone(value))
