"""`threadline followups --dry-run [--at "YYYY-MM-DD HH:MM"]`: what the follow-up worker would do
at that moment (business time zone; default now), to whom and why, without recording or sending
anything (docs/followups.md)."""
from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Dict

from sqlalchemy.exc import DBAPIError

from threadline.cli.output import emit

BAD_INPUT = 2


def _fail(message: str, code: int = BAD_INPUT) -> int:
    print(f"threadline: {message}", file=sys.stderr)
    return code


def register(subparsers, common) -> None:
    p = subparsers.add_parser("followups", parents=[common],
                              help="what the follow-up worker would send to whom and why (docs/followups.md)")
    p.add_argument("--dry-run", action="store_true", help="decide only: nothing is recorded or sent")
    p.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="the moment to decide at, business time zone "
                   "(default now)")
    p.add_argument("--rules", metavar="FILE", help="the rules file (default data/followups.yml or FOLLOWUPS_RULES)")
    p.set_defaults(handler=followups)


def _render(payload: Dict[str, Any]) -> str:
    lines = [f"follow-ups at {payload['at']} ({payload['time_zone']}), dry run: nothing recorded or sent"]
    for d in payload["decisions"]:
        detail = f"  \"{d['detail']}\"" if d["detail"] else ""
        lines.append(f"  {d['kind']:21} {d['action']:7} {d['customer_id']:18} {d['channel'] or '-':9} "
                     f"{d['outcome']}{detail}")
    lines.append("totals:")
    lines.extend(f"  {name}: {count}" for name, count in payload["counts"].items())
    return "\n".join(lines)


def followups(args) -> int:
    from pathlib import Path

    from threadline.followups.__main__ import rules_path
    from threadline.followups.clock import FixedClock
    from threadline.followups.rules import RulesError, load_rules
    from threadline.followups.run import RunFollowUps
    from threadline.insights.business_hours import BusinessHours, BusinessHoursError

    if not args.dry_run:
        return _fail("only --dry-run here: the follow-up worker (python -m threadline.followups, started by "
                     "`make run`) is what sends")
    try:
        rules = load_rules(Path(args.rules) if args.rules else rules_path())
        zone = BusinessHours.from_env().zone
    except (RulesError, BusinessHoursError) as error:
        return _fail(str(error))
    if args.at:
        try:
            local = datetime.strptime(args.at.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            return _fail(f'--at {args.at!r} is not a moment like "2026-12-05 10:00"')
        at = local.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
    else:
        at = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    from threadline.crm import Database

    try:
        database = Database.from_env()
    except DBAPIError as error:
        return _fail(f"CRM database unavailable ({type(error.orig or error).__name__})", 1)
    try:
        report = asyncio.run(RunFollowUps(database, None, rules, FixedClock(at), zone, dry_run=True)())
    finally:
        database.dispose()
    decisions = [d.__dict__ for d in report.decisions]
    counts = dict(sorted(Counter(f"{d.kind} {d.action} {d.outcome}" for d in report.decisions).items()))
    emit(args, {"at": at.replace(tzinfo=timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "at_utc": at.isoformat(), "time_zone": str(zone), "decisions": decisions, "counts": counts}, _render)
    return 0
