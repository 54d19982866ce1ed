"""`threadline metrics` (every insights metric for a date range) and `threadline demo-operation`
(a generated operation for the Insights page); definitions in docs/insights.md."""
from __future__ import annotations

import sys
from datetime import date
from typing import Any, Dict

from sqlalchemy.exc import DBAPIError

from threadline.cli.output import emit

BAD_INPUT = 2


def _fail(message: str, code: int = BAD_INPUT) -> int:
    print(f"threadline: {message}", file=sys.stderr)
    return code


def register(subparsers, common) -> None:
    p = subparsers.add_parser("metrics", parents=[common],
                              help="operation metrics for a date range (docs/insights.md)")
    p.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day (business time zone)")
    p.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day, included")
    p.add_argument("--rebuild-aggregates", action="store_true",
                   help="recompute the Insights aggregates from the stored messages (after a merge, an import "
                        "or a change of BUSINESS_TIMEZONE); no --from/--to needed")
    p.add_argument("--channel", help="only cycles that started on this channel")
    p.add_argument("--rows", action="store_true", help="with --json: include the rows behind each metric")
    p.set_defaults(handler=metrics)

    p = subparsers.add_parser("demo-operation", parents=[common],
                              help="fill an empty CRM with a generated operation (only empty or demo databases)")
    p.add_argument("--customers", type=int, default=2000, help="how many customers (default 2000)")
    p.add_argument("--seed", type=int, default=17, help="random seed: the same seed gives the same history")
    p.add_argument("--days", type=int, default=60, help="days of history, ending today (default 60)")
    p.add_argument("--end", metavar="YYYY-MM-DD", help="last day of the history (default today)")
    p.set_defaults(handler=demo_operation)


def _line(name: str, metric: Dict[str, Any]) -> str:
    value, unit = metric["value"], metric["unit"]
    if value is None:
        shown = "n/a"
    elif unit == "ratio":
        shown = f"{value * 100:.1f}%"
    elif unit == "seconds":
        business = metric["details"].get("business_hours", {}).get("median")
        shown = f"median {value / 60:.1f} min" + (f" ({business / 60:.1f} business min)" if business is not None else "")
    else:
        shown = f"{value:g}"
    counted = f"  ({metric['numerator']}/{metric['denominator']})" if metric["denominator"] is not None else ""
    return f"{name:32} {shown}{counted}"


def _render(payload: Dict[str, Any]) -> str:
    days = payload["days"]
    head = f"metrics {days['from']} – {days['to']} ({days['time_zone']})" + (f" on {payload['channel']}" if payload["channel"] else "")
    return "\n".join([head, *(_line(n, m) for n, m in payload["metrics"].items())])


def metrics(args) -> int:
    from threadline.insights import BusinessHoursError, Period, PeriodError, check_channel, insights_report
    from threadline.insights.business_hours import BusinessHours

    if args.rebuild_aggregates:
        return rebuild_aggregates(args)
    missing = [name for name, value in (("--from", args.first), ("--to", args.last)) if not value]
    if missing:
        return _fail(f"the following arguments are required: {', '.join(missing)} (or --rebuild-aggregates)")
    try:
        hours = BusinessHours.from_env()
        period = Period.parse(args.first, args.last, hours)
        channel = check_channel(args.channel)
    except (BusinessHoursError, PeriodError) as error:
        return _fail(str(error))
    from threadline.crm import Database

    try:
        database = Database.from_env()
    except DBAPIError as error:
        return _fail(f"CRM database unavailable ({type(error.orig or error).__name__})", 1)
    try:
        payload = {"days": {"from": period.first.isoformat(), "to": period.last.isoformat(),
                            "time_zone": str(hours.zone)},
                   **insights_report(database, period, channel).to_dict()}
    finally:
        database.dispose()
    if not args.rows:
        for metric in payload["metrics"].values():
            metric["rows"] = len(metric["rows"])
    emit(args, payload, _render)
    return 0


def rebuild_aggregates(args) -> int:
    import time

    from threadline.insights import BusinessHoursError
    from threadline.insights.aggregates import rebuild_aggregates as rebuild
    from threadline.insights.business_hours import BusinessHours

    try:
        hours = BusinessHours.from_env()
    except BusinessHoursError as error:
        return _fail(str(error))
    from threadline.crm import Database

    try:
        database = Database.from_env()
    except DBAPIError as error:
        return _fail(f"CRM database unavailable ({type(error.orig or error).__name__})", 1)
    started = time.perf_counter()
    try:
        messages = rebuild(database, hours.zone)
    finally:
        database.dispose()
    summary = {"rebuilt": True, "messages": messages, "time_zone": str(hours.zone),
               "seconds": round(time.perf_counter() - started, 2)}
    emit(args, summary, lambda s: f"insights aggregates rebuilt from {s['messages']} messages "
                                  f"({s['time_zone']}, {s['seconds']} s)")
    return 0


def demo_operation(args) -> int:
    from threadline.insights import BusinessHoursError
    from threadline.insights.business_hours import BusinessHours
    from threadline.insights.demo import DemoOperation, DemoRefused

    try:
        hours = BusinessHours.from_env()
        end = date.fromisoformat(args.end) if args.end else None
    except BusinessHoursError as error:
        return _fail(str(error))
    except ValueError:
        return _fail(f"--end {args.end!r} is not a date (YYYY-MM-DD)")
    if not 1 <= args.customers <= 200_000:
        return _fail("--customers must be between 1 and 200000")
    if not 1 <= args.days <= 366:
        return _fail("--days must be between 1 and 366")
    from threadline.crm import Database

    try:
        database = Database.from_env()
    except DBAPIError as error:
        return _fail(f"CRM database unavailable ({type(error.orig or error).__name__})", 1)
    try:
        summary = DemoOperation(database, args.customers, args.seed, args.days, end, hours)()
    except DemoRefused as refused:
        return _fail(str(refused), 1)
    finally:
        database.dispose()
    emit(args, summary, lambda s: (
        f"demo operation: {s['customers']} customers, {s['messages']} messages, {s['opportunities']} opportunities, "
        f"{s['cases']} cases, {s['handoffs']} handoffs ({s['from']} – {s['to']}, seed {s['seed']})"
        + ("; the earlier demo was replaced" if s["replaced_earlier_demo"] else "")))
    return 0
