"""Address normalisation: examples and hypothesis properties."""
from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from threadline.identity.addresses import (
    InvalidAddress, identifier_for, identifiers_for, normalize_email, normalize_phone,
)


@pytest.mark.parametrize("raw, expected", [
    ("5511987654321", "+5511987654321"),             # WhatsApp wa_id
    ("+55 11 98765-4321", "+5511987654321"),         # typed by a person
    ("whatsapp:+5511987654321", "+5511987654321"),   # Twilio WhatsApp
    ("559281723241", "+5592981723241"),              # old Brazilian mobile (no ninth digit)
    ("+55 92 8172-3241", "+5592981723241"),
    ("+55 11 3456-7890", "+551134567890"),           # Brazilian landline: no ninth digit added
    ("+55 11 7627-1362", "+551176271362"),           # still-valid 8-digit range: left alone
    ("5215512345678", "+525512345678"),              # Mexican mobile with the retired 1
    ("+52 55 1234 5678", "+525512345678"),
    ("0044 20 7946 0958", "+442079460958"),
    ("14155552671", "+14155552671"),
])
def test_phone_examples(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "+", "+1", "12", "whatsapp:", "+55 11 98765-43a1"])
def test_not_phones(raw):
    with pytest.raises(InvalidAddress):
        normalize_phone(raw)


def test_emails_are_lowercased_addr_specs():
    assert normalize_email('"Ana Souza" <Ana.Souza@Example.COM>') == "ana.souza@example.com"
    assert normalize_email("  ANA@example.com ") == "ana@example.com"
    for bad in ["ana", "ana@", "@example.com", "ana@example", "a b@example.com"]:
        with pytest.raises(InvalidAddress):
            normalize_email(bad)


def test_channel_identifiers():
    assert identifier_for("whatsapp", "5511987654321").key == "phone:+5511987654321"
    assert identifier_for("sms", "+5511987654321").key == "phone:+5511987654321"
    # Twilio's RCS sender writes from rcs:+55…: the same phone as its SMS and its RBM RCS.
    assert identifier_for("sms", "rcs:+5511987654321") == identifier_for("rcs", "RCS:+55 11 98765-4321") \
        == identifier_for("sms", "+5511987654321")
    with pytest.raises(InvalidAddress):
        identifier_for("instagram", "rcs:+5511987654321")
    assert identifier_for("whatsapp", "BR.1a2b3c").key == "wa_user:BR.1a2b3c"
    assert identifier_for("instagram", "17841400000000001").key == "instagram:17841400000000001"
    keys = [i.key for i in identifiers_for("whatsapp", "5511987654321", {"user_id": "BR.9"})]
    assert keys == ["phone:+5511987654321", "wa_user:BR.9"]
    # An Instagram id that happens to be digits is never a phone.
    assert identifier_for("instagram", "5511987654321").kind == "instagram"


# --- properties ----------------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def valid_numbers(draw):
    """Valid E.164 numbers from every region's metadata (example numbers, varied)."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None)
    national = str(example.national_number)
    # Vary the last digits, keep only results the metadata says are valid.
    tail = draw(st.integers(min_value=0, max_value=10 ** min(4, len(national) - 1) - 1))
    width = min(4, len(national) - 1)
    candidate = national[:-width] + f"{tail:0{width}d}"
    number = phonenumbers.parse(f"+{example.country_code}{candidate}", None)
    assume(phonenumbers.is_valid_number(number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def random_valid_numbers(draw):
    """Random digits in countries with special rules (and a few others), kept when valid:
    this reaches ranges example numbers don't, like Brazil's 8-digit numbers starting 7."""
    country = draw(st.sampled_from([55, 55, 55, 52, 52, 1, 44, 49, 54, 57, 91, 351]))
    length = draw(st.integers(min_value=8, max_value=11))
    digits = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    number = phonenumbers.parse(f"+{country}{digits}", None)
    assume(phonenumbers.is_valid_number(number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def any_valid_number():
    return st.one_of(valid_numbers(), random_valid_numbers())


def spellings(e164: str):
    """How providers and people write the same number."""
    digits = e164[1:]
    return st.sampled_from([e164, digits, f"whatsapp:{e164}", f"00{digits}",
                            f"+{digits[:2]} {digits[2:5]}-{digits[5:]}", f"({e164})"])


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.data())
def test_normalisation_is_idempotent(data):
    e164 = data.draw(any_valid_number())
    written = data.draw(spellings(e164))
    once = normalize_phone(written)
    assert normalize_phone(once) == once
    assert identifier_for("sms", identifier_for("sms", written).value) == identifier_for("sms", written)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(any_valid_number(), any_valid_number(), st.data())
def test_two_different_valid_numbers_never_become_one_identity(a, b, data):
    """Injective on valid E.164 numbers, however they are written. The Brazilian ninth-digit
    rule is not an exception here: it only rewrites +55 DD + 8 digits starting 6-9 when that
    is NOT a valid number (see test_brazilian_exception), so two valid numbers never collide."""
    assume(a != b)
    assert normalize_phone(data.draw(spellings(a))) != normalize_phone(data.draw(spellings(b)))


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much], deadline=None)
@given(area=st.sampled_from([11, 21, 31, 41, 47, 61, 71, 81, 85, 92]),
       rest=st.integers(min_value=0, max_value=9_999_999))
def test_valid_brazilian_numbers_are_never_rewritten(area, rest):
    for first in "23456789":
        number = f"+55{area}{first}{rest:07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
            assert normalize_phone(number) == number


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much], deadline=None)
@given(area=st.sampled_from([11, 21, 31, 41, 47, 61, 71, 81, 85, 92]),
       first=st.sampled_from("6789"), rest=st.integers(min_value=0, max_value=9_999_999))
def test_brazilian_exception(area, first, rest):
    """The one deliberate join: a Brazilian number +55 DD XXXXXXXX whose 8 local digits start
    with 6-9 and which is not a valid number today (the pre-2016 mobile form WhatsApp still
    sends) is the same person as +55 DD 9XXXXXXXX. Nothing else joins: the 9-digit form is
    left as is, landlines (first digit 2-5) get no ninth digit, and 8-digit numbers that are
    still valid (some starting with 7) are left alone."""
    local = f"{first}{rest:07d}"
    old, new = f"+55{area}{local}", f"+55{area}9{local}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(new, None)))
    if phonenumbers.is_valid_number(phonenumbers.parse(old, None)):
        assert normalize_phone(old) == old != normalize_phone(new)
    else:
        assert normalize_phone(old) == normalize_phone(new) == new
    landline = f"+55{area}3{rest:07d}"
    assert normalize_phone(landline) == landline


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_email_normalisation_is_idempotent_and_case_blind(address):
    try:
        once = normalize_email(address)
    except InvalidAddress:
        return  # hypothesis emails include forms we refuse (e.g. no dot in the domain)
    assert normalize_email(once) == once
    assert normalize_email(address.upper()) == once
