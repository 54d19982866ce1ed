"""`threadline agent add|list|disable|enable`: logins for the agent console.

`agent add NAME` asks for the password twice (or reads one line from stdin with
`--password-stdin`, for scripts); only a scrypt hash is stored.
"""
from __future__ import annotations

import getpass
import sys

from threadline.cli.output import emit


def register(subparsers, common) -> None:
    agent = subparsers.add_parser("agent", help="agent logins for the console")
    sub = agent.add_subparsers(dest="agent_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("add", parents=[common], help="create an agent login (asks for the password)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=add)
    p = sub.add_parser("list", parents=[common], help="list agents")
    p.set_defaults(handler=list_agents)
    for command, active in (("disable", False), ("enable", True)):
        p = sub.add_parser(command, parents=[common], help=f"{command} an agent's login")
        p.add_argument("name")
        p.set_defaults(handler=lambda args, active=active: set_active(args, active))


def _database():
    from threadline.crm import Database

    return Database.from_env()


def _fail(message: str) -> int:
    print(f"threadline: {message}", file=sys.stderr)
    return 1


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def _render(agent: dict) -> str:
    return f"{agent['id']}  {agent['name']:24} {'active' if agent['active'] else 'disabled'}"


def add(args) -> int:
    from threadline.console.agents import AddAgent, AgentExists

    try:
        password = _read_password(args)
        agent = AddAgent(_database())(args.name, password)
    except (AgentExists, ValueError) as error:  # WeakPassword is a ValueError
        return _fail(str(error))
    emit(args, agent.to_dict(), lambda a: f"agent {a['name']} created ({a['id']})")
    return 0


def list_agents(args) -> int:
    from threadline.console.agents import ListAgents

    agents = [a.to_dict() for a in ListAgents(_database())()]
    emit(args, {"agents": agents}, lambda p: "\n".join(map(_render, p["agents"])) or "no agents yet")
    return 0


def set_active(args, active: bool) -> int:
    from threadline.console.agents import SetAgentActive, UnknownAgent

    try:
        agent = SetAgentActive(_database())(args.name, active)
    except UnknownAgent as error:
        return _fail(str(error))
    emit(args, agent.to_dict(), _render)
    return 0
