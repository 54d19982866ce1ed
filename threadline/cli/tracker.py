"""`threadline tracker …`: retention and import for the conversation store.

    bin/threadline tracker archive [--older-than DAYS] [--dir PATH]
        (defaults: THREADLINE_RETENTION_DAYS, THREADLINE_ARCHIVE_DIR or var/archive)
    bin/threadline tracker import-rasa --redis-url URL [--key-prefix PREFIX] [--overwrite]
    bin/threadline tracker history CUSTOMER_ID [--start N] [--count N]
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from threadline.cli.output import emit
from threadline.settings import Settings

# The tracker modules import Rasa (~5 s); they are imported inside the handlers so that
# other `bin/threadline` commands start at once.


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("tracker", help="conversation history: retention and import")
    commands = parser.add_subparsers(dest="tracker_command", metavar="SUBCOMMAND")
    commands.required = True

    archive = commands.add_parser(
        "archive", parents=[common],
        help="move sessions older than DAYS to a gzip JSONL file under var/archive and trim them",
    )
    archive.add_argument("--older-than", type=float, metavar="DAYS",
                         help="default: THREADLINE_RETENTION_DAYS (the retention policy)")
    archive.add_argument("--dir", type=Path, help="archive folder (default: THREADLINE_ARCHIVE_DIR or var/archive)")
    archive.set_defaults(handler=lambda args: _run(_archive, args))

    imports = commands.add_parser(
        "import-rasa", parents=[common], help="import trackers stored by Rasa's RedisTrackerStore",
    )
    imports.add_argument("--redis-url", required=True, help="the Redis holding Rasa's trackers")
    imports.add_argument("--key-prefix", help="the key_prefix Rasa's store was configured with")
    imports.add_argument(
        "--overwrite", action="store_true", help="replace customers that already have history",
    )
    imports.set_defaults(handler=lambda args: _run(_import, args))

    history = commands.add_parser("history", parents=[common], help="print a customer's stored events")
    history.add_argument("customer_id")
    history.add_argument("--start", type=int, default=0)
    history.add_argument("--count", type=int, default=50)
    history.set_defaults(handler=lambda args: _run(_history, args))


def _store_url(settings: Settings) -> str:
    return settings.effective_redis_url


def _run(command, args) -> int:
    from threadline.conversation.redis_connection import StorageUnavailable, ping_with_scripts
    from threadline.conversation.tracker_store import CustomerTrackerStore

    url = _store_url(Settings.from_env())

    async def with_store() -> int:
        await ping_with_scripts(url, "tracker store")
        store = CustomerTrackerStore(host=url)
        try:
            return await command(store, args)
        finally:
            await store.close()

    try:
        return asyncio.run(with_store())
    except (StorageUnavailable, ValueError) as error:
        print(f"threadline: {error}", file=sys.stderr)
        return 2


async def _archive(store, args) -> int:
    from threadline.tracker_archive import RETENTION_DAYS_ENV, ArchiveOldSessions, RetentionPolicy

    policy = RetentionPolicy.from_env(Settings.from_env().var_dir)
    days = args.older_than if args.older_than is not None else policy.older_than_days
    if days is None:
        raise ValueError(f"no retention policy: pass --older-than DAYS or set {RETENTION_DAYS_ENV} "
                         "(without one, history is kept forever)")
    report = await ArchiveOldSessions(store, args.dir or policy.archive_dir).run(days)
    emit(args, report.as_dict(), lambda r: (
        f"archived {r['events']} events in {r['sessions']} sessions of {r['customers']} customers"
        + (f" to {r['file']}" if r["file"] else "")
        + (f"; skipped (trimmed concurrently): {', '.join(r['conflicts'])}" if r["conflicts"] else "")
    ))
    return 1 if report.conflicts else 0


async def _import(store, args) -> int:
    from threadline.conversation.redis_connection import ping_with_scripts
    from threadline.tracker_import import ImportRasaTrackers

    await ping_with_scripts(args.redis_url, "import source")
    report = await ImportRasaTrackers(store, args.redis_url, args.key_prefix, args.overwrite).run()
    payload = report.as_dict()
    emit(args, payload, lambda r: "\n".join([
        f"imported {len(r['imported'])} conversations ({r['imported_events']} events)",
        f"skipped {len(r['skipped_existing'])} that already have history (use --overwrite)",
        *[f"failed {sender}: {reason}" for sender, reason in r["failed"].items()],
    ]))
    return 1 if report.failed else 0


async def _history(store, args) -> int:
    events = await store.read_history(args.customer_id, args.start, args.count)
    emit(args, events, lambda evs: "\n".join(json.dumps(e, sort_keys=True) for e in evs)
         or "(no events)")
    return 0
