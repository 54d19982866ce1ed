"""Pick the CRM backend and the order book from the environment.

CRM_BACKEND=sql (default; CRM_DATABASE_URL) or hubspot (HUBSPOT_TOKEN, HUBSPOT_API_URL; the
demo order book and handoffs still use CRM_DATABASE_URL).
CRM_ORDER_BOOK=demo (default: the demo shop in the CRM database, seeded when empty) or
`package.module:ClassName` for a real shop's adapter (docs/crm.md).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from datetime import date
from typing import Optional

from threadline.crm.db import Database, default_database_url
from threadline.crm.interface import Crm, OrderBook


class CrmConfigError(Exception):
    """CRM_BACKEND / CRM_ORDER_BOOK name something that does not exist."""


@dataclass
class CrmServices:
    crm: Crm
    orders: OrderBook
    # The embedded CRM database, whatever the backends: handoffs and agents always live here.
    database: Optional[Database] = None

    async def close(self) -> None:
        await self.crm.close()
        await self.orders.close()


def crm_services(database_url: str | None = None, *, seed_demo: bool = True) -> CrmServices:
    """Open the configured backends (migrating the CRM database if needed)."""
    from threadline.crm.demo_shop import SeedDemoShop
    from threadline.crm.sql_backend import SqlCrm, SqlOrderBook

    backend = os.environ.get("CRM_BACKEND", "sql").strip().lower() or "sql"
    order_book = os.environ.get("CRM_ORDER_BOOK", "demo").strip() or "demo"
    database = Database(database_url or default_database_url())
    if backend == "sql":
        crm: Crm = SqlCrm(database)
    elif backend == "hubspot":
        from threadline.crm.hubspot import HubSpotApi, HubSpotCrm
        from threadline.crm.hubspot.api import DEFAULT_API_URL

        token = os.environ.get("HUBSPOT_TOKEN", "").strip()
        if not token:
            raise CrmConfigError("CRM_BACKEND=hubspot needs HUBSPOT_TOKEN (a private app token)")
        crm = HubSpotCrm(HubSpotApi(token, os.environ.get("HUBSPOT_API_URL", "").strip() or DEFAULT_API_URL),
                         handoffs=SqlCrm(database))
    else:
        raise CrmConfigError(f"CRM_BACKEND={backend!r}: use 'sql' or 'hubspot'")
    if order_book == "demo":
        if seed_demo:
            SeedDemoShop(database, date.today())()
        orders: OrderBook = SqlOrderBook(database)
    else:
        module, _, name = order_book.partition(":")
        try:
            orders = getattr(importlib.import_module(module), name)()
        except (ImportError, AttributeError, ValueError) as error:
            raise CrmConfigError(f"CRM_ORDER_BOOK={order_book!r}: {error}") from error
    return CrmServices(crm, orders, database)
