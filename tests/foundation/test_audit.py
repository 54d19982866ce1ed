"""scripts/audit.py's verdicts, offline: an OSV advisory database in a temporary folder, the
pins of the distributions installed in this environment. (pip-audit itself and PyPI are not
called here.)"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import audit  # noqa: E402

ADVISORY = """id: {id}
aliases: [{cve}]
affected:
- package: {{ecosystem: PyPI, name: {name}}}
  ranges:
  - type: ECOSYSTEM
    events: [{events}]
"""


@pytest.fixture
def database(tmp_path) -> Path:
    def add(name: str, id: str, cve: str, events: str) -> None:
        folder = tmp_path / "vulns" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{id}.yaml").write_text(ADVISORY.format(id=id, cve=cve, name=name, events=events))

    add("aiohttp", "PYSEC-1", "CVE-2024-52304", '{introduced: "0"}, {fixed: 3.10.11}')
    add("pydantic", "PYSEC-2", "CVE-2024-3772", '{introduced: "0"}, {fixed: 1.10.13}, {introduced: "2.0"}, {fixed: 2.4.0}')
    add("pydantic", "PYSEC-3", "CVE-OLD", '{introduced: "0"}, {fixed: 1.8.2}')
    add("redis", "PYSEC-4", "CVE-NEVER", '{introduced: "4.0"}')
    return tmp_path


def test_advisories_match_the_affected_ranges_only(database):
    pins = {"aiohttp": "3.9.5", "pydantic": "1.10.9", "redis": "4.6.0", "requests": "2.34.2"}
    findings = {f.package: [a.id for a in f.advisories]
                for f in audit.audit_offline(pins, pins, audit.load_advisories(database, pins))}
    assert findings == {"aiohttp": ["PYSEC-1"], "pydantic": ["PYSEC-2"], "redis": ["PYSEC-4"]}


def test_a_fix_counts_for_its_own_line_and_later_ones(database):
    [advisory] = [a for a in audit.load_advisories(database, ["pydantic"])["pydantic"] if a.id == "PYSEC-2"]
    assert [advisory.fixed_by(v) for v in ("1.10.9", "1.10.13", "2.0.0", "2.4.0")] == [False, True, False, True]
    published_only = audit.Advisory("GHSA-x", (), (), (), ("1.10.13", "2.4.0"))  # as pip-audit reports it
    assert [published_only.fixed_by(v) for v in ("1.10.9", "1.10.13", "2.0.0", "2.4.0")] == [False, True, False, True]


def test_the_pins_on_a_package_are_read_from_the_installed_distributions():
    pins = audit.dependents_pins("aiohttp", audit.requested_extras())
    [rasa] = [spec for name, _, spec in pins if name == "rasa"]
    assert not rasa.contains("3.10.11") and rasa.contains("3.9.5")  # the fix is blocked by Rasa's pin
    assert not any(name == "slack_sdk" for name, _, _ in pins)  # an extra nobody installed is no pin


def test_the_frozen_tree_includes_the_installers_freeze_leaves_out(tmp_path):
    frozen = tmp_path / "constraints.txt"
    frozen.write_text("# comment\nAiohttp==3.9.5\n")
    pins = audit.frozen_pins(frozen)
    assert pins["aiohttp"] == "3.9.5" and "setuptools" in pins
