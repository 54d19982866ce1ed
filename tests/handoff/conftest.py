"""Handoff tests run against the real CRM on SQLite and on a throwaway PostgreSQL database."""
from __future__ import annotations

from datetime import date

import pytest

from tests.identity.conftest import crm_url, postgres_database  # noqa: F401  (shared fixtures)
from threadline.crm import Database
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook


@pytest.fixture
def database(crm_url):  # noqa: F811
    database = Database(crm_url)
    SeedDemoShop(database, date.today())()
    yield database
    database.dispose()


@pytest.fixture
def services(database) -> CrmServices:
    return CrmServices(SqlCrm(database), SqlOrderBook(database))


@pytest.fixture(autouse=True)
def offline_summary(monkeypatch):
    """Summaries are deterministic unless a test configures the LLM itself."""
    for name in ("URL", "API_KEY", "MODEL", "TIMEOUT_S"):
        monkeypatch.delenv(f"SUMMARY_LLM_{name}", raising=False)
