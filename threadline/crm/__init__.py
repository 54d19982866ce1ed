"""The CRM: the source of truth for customers and everything the business knows about them.

One module per concern under `models/`; schema changes are Alembic migrations under
`migrations/versions/` (linear history). `Database` opens it and runs blocking SQLAlchemy
work in a thread so async callers never block their event loop.

What actions, connectors and the console use is `interface.Crm` (customer memory) and
`interface.OrderBook` (catalogue and orders), opened by `backends.crm_services()`: the SQL
backend (`sql_backend`) or HubSpot (`hubspot/`). `timeline_worker` fills the interaction
timeline from the tracker store's event log. See docs/crm.md.
"""
from threadline.crm.db import Database, default_database_url

__all__ = ["Database", "default_database_url"]
