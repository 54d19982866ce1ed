"""Customer commands: customer, link, unlink, merge, import-contacts, identity, crm, customers.

Changes (link, unlink, merge) need --by (who) and --reason (why): they go to the audit log.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from threadline.cli.output import emit
from threadline.language.detect import SPOKEN


def _fail(message: str) -> int:
    print(f"threadline: {message}", file=sys.stderr)
    return 1


def _run(work) -> int:
    """Run `work(services)` with identity services from the environment; errors are short."""
    from threadline.identity.addresses import InvalidAddress
    from threadline.identity.audit import AuditError
    from threadline.identity.directory import UnknownCustomer
    from threadline.identity.link import IdentityOwnedElsewhere
    from threadline.identity.merge import MergeRefused
    from threadline.identity.services import IdentityServices

    async def main():
        services = IdentityServices.from_env()
        try:
            return await work(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except UnknownCustomer as exc:
        return _fail(f"no customer {exc}")
    except (InvalidAddress, AuditError, IdentityOwnedElsewhere, MergeRefused, ValueError, OSError) as exc:
        return _fail(str(exc))


def _audited(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", required=True, help="who is making this change (recorded)")
    parser.add_argument("--reason", required=True, help="why (recorded)")


def register(subparsers, common) -> None:
    p = subparsers.add_parser("customer", parents=[common], help="show a customer, its identities and open items")
    p.add_argument("--channel", choices=["whatsapp", "instagram", "sms", "rcs", "email"])
    p.add_argument("--address", help="address as the provider gives it (phone, IGSID, email)")
    p.add_argument("--id", dest="customer_id", help="a customer id (cus_...), merged ids included")
    p.set_defaults(handler=show_customer)

    p = subparsers.add_parser("link", parents=[common], help="give a customer a verified identity (audited)")
    p.add_argument("--customer", required=True)
    p.add_argument("--channel", required=True, choices=["whatsapp", "instagram", "sms", "rcs", "email"])
    p.add_argument("--address", required=True)
    _audited(p)
    p.set_defaults(handler=link)

    p = subparsers.add_parser("merge", parents=[common], help="merge two customers into one (audited)")
    p.add_argument("--into", required=True, help="the customer that remains")
    p.add_argument("--from", dest="source", required=True, help="the customer merged in (its id becomes an alias)")
    _audited(p)
    p.set_defaults(handler=merge)

    p = subparsers.add_parser("unlink", parents=[common], help="undo a merge or a link (audited)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--audit-id", type=int, help="the merge or link to undo (see `identity audit`)")
    target.add_argument("--customer", help="a merged customer id: undo the merge that folded it in")
    _audited(p)
    p.set_defaults(handler=unlink)

    p = subparsers.add_parser("import-contacts", parents=[common], help="import a CSV: name, email, phone, external id")
    p.add_argument("file", type=Path)
    p.add_argument("--region", help="country for phones written without +, e.g. BR")
    p.set_defaults(handler=import_contacts)

    identity = subparsers.add_parser("identity", help="identity index and audit log")
    sub = identity.add_subparsers(dest="identity_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("rebuild-index", parents=[common], help="rebuild the Redis identity index from the CRM")
    p.set_defaults(handler=rebuild_index)
    p = sub.add_parser("audit", parents=[common], help="recent links, merges and unlinks")
    p.add_argument("--customer")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=show_audit)

    crm = subparsers.add_parser("crm", help="CRM database")
    sub = crm.add_subparsers(dest="crm_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("upgrade", parents=[common], help="apply CRM schema migrations")
    p.set_defaults(handler=crm_upgrade)
    p = subparsers.add_parser("migrate", parents=[common],
                              help="apply CRM schema migrations (the one place that migrates: THREADLINE_MIGRATE=check)")
    p.set_defaults(handler=crm_upgrade)

    customers = subparsers.add_parser("customers", help="customer settings an agent may change")
    sub = customers.add_subparsers(dest="customers_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("set-language", parents=[common],
                       help="the language the customer is answered in, from their next session")
    p.add_argument("customer", help="a customer id (cus_...), merged ids included")
    p.add_argument("language", choices=list(SPOKEN))
    p.set_defaults(handler=set_language)


def _status(identity: dict) -> str:
    if identity.get("unverified_sender"):
        return "unverified sender"
    return "verified" if identity["verified"] else "claimed"


def _render_customer(p: dict) -> str:
    lines = [f"customer {p['customer_id']}" + (f"  ({p['display_name']})" if p.get("display_name") else "")]
    if p.get("aliases"):
        lines.append("aliases  " + ", ".join(p["aliases"]))
    for i in p["identities"]:
        lines.append(f"  {i['channel']:9} {i['address']:32} {_status(i)}")
    items = p["open_items"]
    if not any(items.values()):
        lines.append("open items: none")
    for o in items["opportunities"]:
        lines.append(f"  lead #{o['id']}  {o['product'] or o['plan']}  {o['stage']}  next: {o['next_step'] or '-'}")
    for c in items["cases"]:
        lines.append(f"  case #{c['id']}  {c['topic']}  order {c['order_id'] or '-'}  opened {c['opened_at'][:10]}")
    for promise in items["promises"]:
        lines.append(f"  promise #{promise['id']}  due {promise['due_date']}  {promise['text']}")
    return "\n".join(lines)


def show_customer(args) -> int:
    from threadline.identity import lookup

    if not args.customer_id and not (args.channel and args.address):
        return _fail("give --channel and --address, or --id")

    async def work(services):
        def read(session):
            customer_id = args.customer_id or lookup.find_by_address(session, args.channel, args.address)
            return lookup.describe(session, customer_id) if customer_id else None

        payload = await services.db.run(read)
        if payload is None:
            return _fail("no customer has that address")
        payload["latest_route"] = await services.resolver.latest_route(payload["customer_id"])
        emit(args, payload, _render_customer)
        return 0

    return _run(work)


def link(args) -> int:
    async def work(services):
        result = await services.link()(args.customer, args.channel, args.address, actor=args.by, reason=args.reason)
        emit(args, {"audit_id": result.audit_id, "customer_id": result.customer_id},
             lambda p: f"linked to {p['customer_id']} (audit {p['audit_id']})")
        return 0

    return _run(work)


def merge(args) -> int:
    async def work(services):
        result = await services.merge()(args.into, args.source, actor=args.by, reason=args.reason)
        emit(args, {"audit_id": result.audit_id, "customer_id": result.customer_id, "merged_id": result.merged_id},
             lambda p: f"merged {p['merged_id']} into {p['customer_id']} (audit {p['audit_id']})")
        return 0

    return _run(work)


def unlink(args) -> int:
    from threadline.crm.models import AuditEntry
    from threadline.identity.merge import latest_merge_of

    async def work(services):
        audit_id = args.audit_id or await services.db.run(lambda s: latest_merge_of(s, args.customer))
        action = await services.db.run(lambda s: getattr(s.get(AuditEntry, audit_id), "action", None))
        undo = services.undo_link() if action == "link" else services.unlink()
        unlink_id = await undo(audit_id, actor=args.by, reason=args.reason)
        emit(args, {"audit_id": unlink_id, "undid": audit_id}, lambda p: f"undid audit {p['undid']} (audit {p['audit_id']})")
        return 0

    return _run(work)


def import_contacts(args) -> int:
    from threadline.identity.contacts import ImportContacts

    async def work(services):
        report = await ImportContacts(services.db, services.index).from_path(args.file, default_region=args.region)
        emit(args, report.as_dict(), lambda p: "\n".join(
            [f"created {p['created']}, updated {p['updated']}, unchanged {p['unchanged']}, problems {len(p['problems'])}"]
            + [f"  line {x['line']}: {x['error']}" for x in p["problems"]]))
        return 0 if not report.problems else 3

    return _run(work)


def rebuild_index(args) -> int:
    from threadline.identity.rebuild import RebuildIndex

    async def work(services):
        report = await RebuildIndex(services.db, services.index)()
        emit(args, report.__dict__, lambda p: (
            f"index rebuilt: {p['identifiers']} identifiers, {p['aliases']} aliases, "
            f"{p['customers_with_routes']} customers with routes ({p['deleted_keys']} old keys removed)"))
        return 0

    return _run(work)


def show_audit(args) -> int:
    from threadline.identity import lookup

    async def work(services):
        entries = await services.db.run(lambda s: lookup.audit_trail(s, args.customer, args.limit))
        emit(args, entries, lambda es: "\n".join(
            f"{e['id']:>5} {e['created_at']} {e['action']:7} {e['customer_id']} {e['other_customer_id'] or '':26} "
            f"by {e['actor']}: {e['reason']}" + (f" (undone by {e['undone_by']})" if e["undone_by"] else "")
            for e in es) or "no entries")
        return 0

    return _run(work)


def crm_upgrade(args) -> int:
    """`bin/threadline migrate` and `crm upgrade`: the one place that migrates when the
    services run with THREADLINE_MIGRATE=check."""
    from threadline.crm import Database
    from threadline.crm.db import default_database_url

    database = Database(default_database_url(), migrate=False)
    database.upgrade()
    emit(args, {"url": database.engine.url.render_as_string(hide_password=True), "status": "up to date"},
         lambda p: f"CRM at {p['url']} is up to date")
    database.dispose()
    return 0


def set_language(args) -> int:
    from threadline.crm import Database
    from threadline.crm.models import Customer
    from threadline.crm.sql_backend import SqlCrm

    database = Database.from_env()
    try:
        if database.transaction(lambda s: s.get(Customer, args.customer)) is None:
            return _fail(f"no customer {args.customer}")
        asyncio.run(SqlCrm(database).set_customer_language(args.customer, args.language))
    finally:
        database.dispose()
    emit(args, {"customer_id": args.customer, "language": args.language},
         lambda p: f"{p['customer_id']} is answered in {p['language']} from their next session")
    return 0
