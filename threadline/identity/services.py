"""Wiring: the identity operations built on one CRM database and one Redis."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from threadline.crm import Database
from threadline.identity.index import IdentityIndex
from threadline.identity.link import LinkIdentities, UndoLink
from threadline.identity.merge import MergeCustomers, UnlinkCustomer
from threadline.identity.merge_jobs import MergeJobs
from threadline.identity.resolver import IdentityResolver, redis_url_from_env


@dataclass
class IdentityServices:
    db: Database
    redis_url: str

    @classmethod
    def from_env(cls) -> "IdentityServices":
        return cls(Database.from_env(), redis_url_from_env())

    @cached_property
    def index(self) -> IdentityIndex:
        return IdentityIndex.from_url(self.redis_url)

    @cached_property
    def histories(self):
        from threadline.conversation.tracker_store import CustomerTrackerStore  # imports Rasa: only when needed

        return CustomerTrackerStore(host=self.redis_url)

    @cached_property
    def locks(self):
        from threadline.conversation.lock_store import CustomerLockStore

        return CustomerLockStore(url=self.redis_url)

    @cached_property
    def resolver(self) -> IdentityResolver:
        return IdentityResolver(self.db, self.index)

    def merge(self) -> MergeCustomers:
        return MergeCustomers(self.db, self.index, self.histories, self.locks)

    def merge_jobs(self) -> MergeJobs:
        return MergeJobs(self.db, self.merge())

    def unlink(self) -> UnlinkCustomer:
        return UnlinkCustomer(self.db, self.index, self.histories, self.locks)

    def link(self) -> LinkIdentities:
        return LinkIdentities(self.db, self.index)

    def undo_link(self) -> UndoLink:
        return UndoLink(self.db, self.index)

    async def close(self) -> None:
        for name in ("index", "histories", "locks"):
            if name in self.__dict__:
                await self.__dict__[name].close()
        self.db.dispose()
