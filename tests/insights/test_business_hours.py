"""BUSINESS_HOURS / BUSINESS_TIMEZONE: parsing, clear errors, and durations inside opening hours."""
from __future__ import annotations

from datetime import datetime

import pytest

from threadline.insights.business_hours import BusinessHours, BusinessHoursError

# Naive UTC, as the CRM stores times. São Paulo is UTC-3 all year (no DST since 2019).
FRIDAY_17H_SP = datetime(2026, 11, 6, 20, 0)
MONDAY_10H_SP = datetime(2026, 11, 9, 13, 0)


def test_across_a_weekend_only_opening_hours_count():
    hours = BusinessHours.parse("mon-fri 09:00-18:00, sat 09:00-13:00")
    # Friday 17:00-18:00 (1 h) + Saturday 09:00-13:00 (4 h) + Monday 09:00-10:00 (1 h)
    assert hours.seconds_between(FRIDAY_17H_SP, MONDAY_10H_SP) == 6 * 3600
    assert BusinessHours.parse("mon-fri 09:00-18:00").seconds_between(FRIDAY_17H_SP, MONDAY_10H_SP) == 2 * 3600


def test_a_night_counts_nothing_and_a_message_at_night_waits_for_the_morning():
    hours = BusinessHours.parse("mon-fri 09:00-18:00")
    tuesday_22h, wednesday_06h = datetime(2026, 11, 4, 1, 0), datetime(2026, 11, 4, 9, 0)
    assert hours.seconds_between(tuesday_22h, wednesday_06h) == 0
    assert hours.seconds_between(tuesday_22h, datetime(2026, 11, 4, 12, 30)) == 30 * 60  # to 09:30


def test_sao_paulo_has_no_daylight_saving_time_any_more():
    hours = BusinessHours.parse("mon-sun 00:00-24:00")
    # Before 2019 São Paulo moved its clocks on the first Sunday of November; now it does not.
    assert hours.local(datetime(2026, 11, 1, 12)).utcoffset().total_seconds() == -3 * 3600
    assert hours.seconds_between(datetime(2026, 10, 31), datetime(2026, 11, 3)) == 3 * 86400


def test_a_zone_with_daylight_saving_time_is_handled_by_zoneinfo():
    hours = BusinessHours.parse("mon-sun 00:00-24:00", "America/New_York")
    # Sunday 1 November 2026 is 25 hours long in New York.
    start, end = hours.to_utc(datetime(2026, 11, 1).date()), hours.to_utc(datetime(2026, 11, 2).date())
    assert hours.seconds_between(start, end) == 25 * 3600


def test_long_ranges_agree_with_counting_day_by_day():
    hours = BusinessHours.parse("mon-fri 09:00-12:00, mon-fri 13:00-18:00, sat 10:00-14:00")
    start, end = datetime(2026, 1, 3, 15, 17), datetime(2026, 7, 19, 2, 41)
    assert hours.seconds_between(start, end) == hours._count(start, end, start.date(), end.date())
    assert hours.seconds_between(end, start) == 0


def test_defaults():
    hours = BusinessHours.from_env({})
    assert str(hours.zone) == "America/Sao_Paulo" and hours.spec == "mon-fri 09:00-18:00"


@pytest.mark.parametrize("spec, zone, named", [
    ("mon-fry 09:00-18:00", "America/Sao_Paulo", "BUSINESS_HOURS: 'fry'"),
    ("mon-fri 9-18", "America/Sao_Paulo", "BUSINESS_HOURS: 'mon-fri 9-18'"),
    ("mon 18:00-09:00", "America/Sao_Paulo", "closes before it opens"),
    ("mon 09:00-25:00", "America/Sao_Paulo", "'25:00'"),
    ("mon 09:00-12:00, mon 11:00-13:00", "America/Sao_Paulo", "overlap on mon"),
    ("mon-fri 09:00-18:00", "Sao Paulo", "BUSINESS_TIMEZONE: 'Sao Paulo' is not a time zone"),
])
def test_a_bad_setting_names_itself(spec, zone, named):
    with pytest.raises(BusinessHoursError) as refused:
        BusinessHours.from_env({"BUSINESS_HOURS": spec, "BUSINESS_TIMEZONE": zone})
    assert named in str(refused.value)
