"""The addresses `make run` prints for a browser open in every browser (issue #17): the agent
console's default port (it was 5060, SIP's, which Chromium and Firefox refuse with an error
page) and the simulator's are on no browser's blocked-port list, the console's default runs into
no other service's default, and every place that prints the console's address uses it."""
from __future__ import annotations

import re

import pytest

from threadline.browser_ports import BROWSER_BLOCKED_PORTS, CHROMIUM_RESTRICTED_PORTS, FIREFOX_BAD_PORTS
from threadline.sandbox.config import DEFAULT_PORT as SIMULATOR_DEFAULT_PORT
from threadline.settings import DEFAULT_CONSOLE_PORT, PROJECT_DIR, Settings

DEFAULTS_SET_BY_US = ("CONSOLE_PORT", "CONSOLE_HOST", "RASA_PORT", "ACTION_PORT", "CRM_TIMELINE_PORT",
                      "THREADLINE_INBOX_WORKER_PORT", "THREADLINE_INBOX_WORKERS", "THREADLINE_REDIS_PORT",
                      "THREADLINE_SANDBOX_PORT", "HANDOFF_CONSOLE_URL")


@pytest.fixture
def defaults(monkeypatch) -> Settings:
    for name in DEFAULTS_SET_BY_US:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("threadline.settings.load_env_file", lambda *_: None)  # no developer's .env
    return Settings.from_env()


def test_the_embedded_lists_are_the_browsers_own():
    # The old default is what started this: SIP, refused by both.
    assert {5060, 5061} <= CHROMIUM_RESTRICTED_PORTS and {5060, 5061} <= FIREFOX_BAD_PORTS
    assert len(CHROMIUM_RESTRICTED_PORTS) == 80 and FIREFOX_BAD_PORTS - CHROMIUM_RESTRICTED_PORTS == {4190, 6679}


def test_the_console_default_port_is_on_no_browser_blocked_list(defaults):
    assert defaults.console_port == DEFAULT_CONSOLE_PORT
    assert defaults.console_port not in CHROMIUM_RESTRICTED_PORTS, "Chromium answers ERR_UNSAFE_PORT"
    assert defaults.console_port not in FIREFOX_BAD_PORTS, "Firefox answers 'This address is restricted'"


def test_the_simulator_default_port_is_on_no_browser_blocked_list():
    assert SIMULATOR_DEFAULT_PORT not in BROWSER_BLOCKED_PORTS


def test_env_example_keeps_the_defaults_browsers_open():
    # A .env copied from .env.example sets the ports explicitly: they must be the safe defaults too.
    example = (PROJECT_DIR / ".env.example").read_text()
    values = dict(re.findall(r"^(CONSOLE_PORT|THREADLINE_SANDBOX_PORT)=(\d*)$", example, re.MULTILINE))
    assert values["CONSOLE_PORT"] == str(DEFAULT_CONSOLE_PORT)
    assert not values.get("THREADLINE_SANDBOX_PORT") or int(values["THREADLINE_SANDBOX_PORT"]) not in BROWSER_BLOCKED_PORTS


def test_the_console_default_port_is_no_other_service_default_nor_an_inbox_worker_health_port(defaults):
    others = {defaults.rasa_port, defaults.action_port, defaults.crm_timeline_port, defaults.local_redis_port,
              SIMULATOR_DEFAULT_PORT}
    assert defaults.console_port not in others
    # Workers' health ports count up from THREADLINE_INBOX_WORKER_PORT: however many are started.
    assert defaults.console_port < defaults.inbox_worker_port


def test_the_handoff_notification_links_to_the_console_on_its_default_port(defaults):
    from threadline.handoff.notify import console_link

    assert console_link("h1") == f"http://127.0.0.1:{defaults.console_port}/handoffs/h1"


def test_the_banner_prints_the_console_on_its_default_port(defaults, capsys):
    import os

    from threadline.launcher import Launcher
    from threadline.sandbox.config import sandbox_env
    from threadline.sandbox.modes import channel_modes

    launcher = Launcher(defaults)
    launcher.channel_modes = channel_modes(os.environ)
    launcher.channel_env = sandbox_env(os.environ, SIMULATOR_DEFAULT_PORT, defaults.rasa_port)
    launcher.redis_note = "redis://127.0.0.1:6380/0 (project-local)"
    launcher.print_urls()
    printed = capsys.readouterr().out.splitlines()
    [console] = [line for line in printed if line.startswith("  Console ")]
    assert console.split()[1] == f"http://127.0.0.1:{DEFAULT_CONSOLE_PORT}/"
    assert not any("browsers refuse" in line for line in printed)


def test_a_console_set_on_a_blocked_port_gets_a_note_in_the_banner(defaults, monkeypatch, capsys):
    # An .env copied from an older .env.example still says CONSOLE_PORT=5060.
    import os

    from threadline.launcher import Launcher
    from threadline.sandbox.config import sandbox_env
    from threadline.sandbox.modes import channel_modes

    monkeypatch.setenv("CONSOLE_PORT", "5060")
    launcher = Launcher(Settings.from_env())
    launcher.channel_modes = channel_modes(os.environ)
    launcher.channel_env = sandbox_env(os.environ, SIMULATOR_DEFAULT_PORT, defaults.rasa_port)
    launcher.redis_note = "redis://127.0.0.1:6380/0 (project-local)"
    launcher.print_urls()
    lines = capsys.readouterr().out.splitlines()
    console = next(index for index, line in enumerate(lines) if line.startswith("  Console "))
    assert lines[console + 1].split() == [
        "browsers", "refuse", "port", "5060", "(ERR_UNSAFE_PORT):", "set", "CONSOLE_PORT", "to", "another",
        "port,", "such", "as", "its", "default", f"{DEFAULT_CONSOLE_PORT}"]
    assert sum("browsers refuse" in line for line in lines) == 1  # the simulator's default is fine
