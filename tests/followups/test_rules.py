"""data/followups.yml: the shipped file loads; a wrong one is refused naming the file and line."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from threadline.followups.clock import FixedClock
from threadline.followups.rules import RulesError, load_rules

GOOD = """\
quiet_hours: "21:00-08:00"
max_proactive_every_days: 3
kinds:
  stalled_lead:
    alert: true
    message: true
    after: {qualified: 3d, proposal: 2d}
    response: utter_followup_stalled_lead
    whatsapp_template:
      name: lead_followup
      parameters: [product]
  unanswered:
    alert: true
    after: 30m
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "followups.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_rules_load_against_the_real_domain():
    rules = load_rules()
    assert set(rules.kinds) == {"stalled_lead", "unanswered", "promise_due", "intent_without_order"}
    assert rules.kinds["stalled_lead"].wait("qualified") == timedelta(days=3)
    assert rules.kinds["stalled_lead"].wait("new") is None
    assert rules.kinds["unanswered"].wait() == timedelta(minutes=30)
    assert rules.is_quiet(time(23, 0)) and rules.is_quiet(time(7, 59)) and not rules.is_quiet(time(8, 0))


def test_a_good_file_reads_as_written(tmp_path):
    rules = load_rules(write(tmp_path, GOOD))
    lead = rules.kinds["stalled_lead"]
    assert (lead.alert, lead.message, lead.response) == (True, True, "utter_followup_stalled_lead")
    assert lead.whatsapp_template.name == "lead_followup" and lead.whatsapp_template.parameters == ("product",)
    assert rules.max_proactive_every == timedelta(days=3)
    assert rules.kinds["unanswered"].message is False


@pytest.mark.parametrize("old, new, line, words", [
    ("  unanswered:\n", "  unanswerd:\n", 12, "unknown key 'unanswerd'"),
    ("response: utter_followup_stalled_lead", "response: utter_followup_nope", 8, "'utter_followup_nope' is not a response"),
    ("      parameters: [product]\n", "", 9, "'lead_followup' has no parameters"),
    ("      parameters: [product]", "      parameters: [colour]", 11, "unknown parameter 'colour'"),
    ("after: 30m", "after: soon", 14, "'soon' is not a duration"),
    ("after: {qualified: 3d, proposal: 2d}", "after: {qualified: 3d, won: 2d}", 7, "unknown key 'won'"),
    ('quiet_hours: "21:00-08:00"', 'quiet_hours: "late"', 1, "quiet_hours"),
    ("    message: true\n", "    message: true\n    resposne: x\n", 7, "unknown key 'resposne'"),
])
def test_a_wrong_file_is_refused_with_its_file_and_line(tmp_path, old, new, line, words):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(RulesError) as refused:
        load_rules(path)
    assert str(refused.value).startswith(f"{path}:{line}: ")
    assert words in str(refused.value)


def test_a_message_without_a_response_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("    response: utter_followup_stalled_lead\n", ""))
    with pytest.raises(RulesError, match=r"followups.yml:6: stalled_lead: message is true but no response"):
        load_rules(path)


def test_the_fixed_clock_moves_only_when_told():
    clock = FixedClock(datetime(2026, 12, 5, 10, 0))
    assert clock.now() == clock.now() == datetime(2026, 12, 5, 10, 0)
    assert clock.advance(days=3) == datetime(2026, 12, 8, 10, 0) == clock.now()
