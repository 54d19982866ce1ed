"""Handoff tests run on SQLite and on a throwaway PostgreSQL database, like the CRM's."""
from tests.crm.conftest import crm, database  # noqa: F401  (shared fixtures)
from tests.identity.conftest import crm_url, postgres_database  # noqa: F401
