"""`RebuildIndex`: recreate the Redis identity index from the CRM (the source of truth).

Safe while messages flow: a message whose identifier is missing from the index during the
rebuild falls through to the CRM, which answers the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from threadline.crm import Database
from threadline.crm.models import Customer, CustomerAlias
from threadline.identity import directory
from threadline.identity.index import IdentityIndex


@dataclass(frozen=True)
class RebuildReport:
    deleted_keys: int
    identifiers: int
    aliases: int
    customers_with_routes: int


class RebuildIndex:
    def __init__(self, db: Database, index: IdentityIndex) -> None:
        self.db, self.index = db, index

    async def __call__(self) -> RebuildReport:
        def read(session):
            owners = {key: directory.canonical_customer(session, cid) for key, cid in directory.all_owners(session)}
            aliases = {a: directory.canonical_customer(session, c)
                       for a, c in session.execute(select(CustomerAlias.alias_id, CustomerAlias.customer_id))}
            active = session.execute(select(Customer.id).where(Customer.merged_into.is_(None))).scalars().all()
            routes = {cid: directory.routes_of(session, cid) for cid in active}
            return owners, aliases, {c: r for c, r in routes.items() if r}

        owners, aliases, routes = await self.db.run(read)
        deleted = await self.index.clear()
        await self.index.assign(owners)
        for alias, target in aliases.items():
            await self.index.set_alias(alias, target)
        for customer_id, customer_routes in routes.items():
            await self.index.replace_routes(customer_id, customer_routes)
        return RebuildReport(deleted, len(owners), len(aliases), len(routes))
