"""Agent accounts for the console: add, list, disable, and check a login.

Only a password hash is stored (threadline/console/passwords.py). A disabled agent cannot log
in, and its open sessions stop working at their next request (the app checks `active`).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import List, Optional

from sqlalchemy import select

from threadline.console.i18n import LOCALES
from threadline.console.passwords import hash_password, verify_password
from threadline.crm import Database
from threadline.crm.models import Agent
from threadline.crm.models.base import utcnow


class AgentExists(ValueError):
    """Another agent already has that name."""


class UnknownAgent(LookupError):
    """No agent with that name."""


@dataclass(frozen=True)
class AgentView:
    id: str
    name: str
    active: bool
    created_at: datetime
    language: Optional[str] = None  # the console language the agent chose; None: the browser's

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "active": self.active,
                "created_at": self.created_at.isoformat(), "language": self.language}


def _view(row: Agent) -> AgentView:
    return AgentView(row.id, row.name, bool(row.active), row.created_at, row.language)


def _clean(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("an agent name needs 1 to 200 characters")
    return name


class AddAgent:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, name: str, password: str) -> AgentView:
        name, password_hash = _clean(name), hash_password(password)

        def add(session) -> AgentView:
            if session.scalar(select(Agent.id).where(Agent.name == name)):
                raise AgentExists(f"an agent named {name!r} exists already")
            row = Agent(id="agt_" + secrets.token_hex(8), name=name, password_hash=password_hash,
                        created_at=utcnow(), active=True)
            session.add(row)
            session.flush()
            return _view(row)

        return self.db.transaction(add)


class ListAgents:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self) -> List[AgentView]:
        return self.db.transaction(
            lambda s: [_view(r) for r in s.scalars(select(Agent).order_by(Agent.name))])


class SetAgentActive:
    """Disable (or re-enable) an agent by name."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, name: str, active: bool) -> AgentView:
        def change(session) -> AgentView:
            row = session.scalar(select(Agent).where(Agent.name == name.strip()))
            if row is None:
                raise UnknownAgent(f"no agent named {name!r}")
            row.active = active
            return _view(row)

        return self.db.transaction(change)


class SetAgentLanguage:
    """Store the console language an agent chose (one of i18n.LOCALES)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, agent_id: str, language: str) -> AgentView:
        if language not in LOCALES:
            raise ValueError(f"the console speaks {', '.join(LOCALES)}, not {language!r}")

        def change(session) -> AgentView:
            row = session.get(Agent, agent_id)
            if row is None:
                raise UnknownAgent(f"no agent with id {agent_id!r}")
            row.language = language
            return _view(row)

        return self.db.transaction(change)


class Authenticate:
    """Name and password → the active agent, or None. Blocking (scrypt): run it in a thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, name: str, password: str) -> Optional[AgentView]:
        row = self.db.transaction(lambda s: s.scalar(select(Agent).where(Agent.name == name.strip())))
        if row is None or not row.active:
            verify_password(password, _dummy_hash())  # same cost whether or not the name exists
            return None
        return _view(row) if verify_password(password, row.password_hash) else None


def active_agent(db: Database, agent_id: str) -> Optional[AgentView]:
    row = db.transaction(lambda s: s.get(Agent, agent_id))
    return _view(row) if row is not None and row.active else None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
