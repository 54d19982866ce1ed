"""Follow-up tests run on SQLite and on a throwaway PostgreSQL database, like tests/insights."""
from __future__ import annotations

import pytest

from tests.identity.conftest import crm_url, postgres_database  # noqa: F401  (shared fixtures)
from threadline.crm import Database


@pytest.fixture
def database(crm_url):  # noqa: F811
    database = Database(crm_url)
    yield database
    database.dispose()
