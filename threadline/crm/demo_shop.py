"""Seed the demo catalogue and order book into the CRM database.

Product and plan names come from data/catalogue/products.csv (the same file the NLU's entity
extractor reads), prices and stock from demo_stock.csv, orders from demo_orders.csv. Dates
are relative to the day of seeding so the demo always has a late, an on-time and a delivered
order. Seeding only happens while the catalogue is empty: a real shop's data is never touched.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Dict, List

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Order, Product

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "data" / "catalogue"


def _rows(name: str) -> List[Dict[str, str]]:
    with open(CATALOGUE_DIR / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _days(value: str, today: date):
    return today + timedelta(days=int(value)) if value.strip() else None


@dataclass
class SeedDemoShop:
    """Fill `products` and `orders` from data/catalogue if `products` is empty."""

    database: Database
    today: date

    def __call__(self) -> int:
        return self.database.transaction(self._seed, retry_conflicts=True)

    def _seed(self, session: Session) -> int:
        if session.scalar(select(func.count()).select_from(Product)):
            return 0
        kinds = {row["name"]: row["kind"] for row in _rows("products.csv")}
        skus: Dict[str, str] = {}
        for row in _rows("demo_stock.csv"):
            if row["name"] not in kinds:
                raise ValueError(f"demo_stock.csv: {row['name']!r} is not in products.csv")
            skus[row["name"]] = row["sku"]
            session.add(Product(
                sku=row["sku"], name=row["name"], kind=kinds[row["name"]],
                price=Decimal(row["price"]), currency="BRL",
                stock=int(row["stock"]) if row["stock"] else None,
                restock_date=_days(row["restock_in_days"], self.today),
            ))
        for row in _rows("demo_orders.csv"):
            placed = datetime.combine(self.today - timedelta(days=int(row["placed_days_ago"])), time(10))
            due = _days(row["delivery_in_days"], self.today)
            session.add(Order(
                id=row["order_id"], sku=skus[row["product"]], quantity=int(row["quantity"]),
                status=row["status"], placed_at=placed,
                estimated_delivery=None if row["status"] == "cancelled" else due,
                delivered_on=due if row["status"] == "delivered" else None,
                carrier=row["carrier"] or None,
            ))
        return len(skus)
