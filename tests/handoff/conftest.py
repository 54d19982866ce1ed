"""Handoff tests run on SQLite and on a throwaway PostgreSQL database, like the CRM's."""
from __future__ import annotations

import pytest

from tests.crm.conftest import crm, database  # noqa: F401  (shared fixtures)
from tests.identity.conftest import crm_url, postgres_database  # noqa: F401
from threadline.crm.backends import CrmServices


@pytest.fixture
def services(crm) -> CrmServices:  # noqa: F811
    """The CRM and order book a summary reads (the same services the actions use)."""
    return crm


@pytest.fixture(autouse=True)
def offline_summary(monkeypatch):
    """Summaries are deterministic unless a test configures the LLM itself."""
    for name in ("URL", "API_KEY", "MODEL", "TIMEOUT_S"):
        monkeypatch.delenv(f"SUMMARY_LLM_{name}", raising=False)
