"""Fixtures for the follow-up tests: the embedded CRM on SQLite with the demo shop, installed
for the actions as the action server opens it."""
from __future__ import annotations

from datetime import date

import pytest

from actions import crm_context
from threadline.crm import Database
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    SeedDemoShop(database, date.today())()
    yield database
    database.dispose()


@pytest.fixture
def crm(database) -> CrmServices:
    services = CrmServices(SqlCrm(database), SqlOrderBook(database), database)
    crm_context.use_services(services)
    yield services
    crm_context.use_services(None)
