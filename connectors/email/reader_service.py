"""`python -m connectors.email.reader_service` (`bin/threadline serve email`): the email
channel's IMAP reader in a process of its own, so a deployment can run it apart from the Rasa
servers (which then get THREADLINE_EMAIL_READER=separate and only answer the Mailgun webhook).

It builds the email channel from credentials.yml exactly as the Rasa server does and runs its
server side: the reader, under the mailbox's Redis lease (connectors/email/reader_lease.py),
so any number of these processes read one at a time; mail goes to the same inbox, and the
inbox workers answer it. Nothing of Rasa's model is loaded here.

Health: GET /health on EMAIL_READER_PORT (default 5054): 200 once the channel started, with
`reading` (whether this process holds the lease now) and the process id.
SIGTERM/SIGINT: the reader stops and gives the lease back, so another process reads within a poll.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
from pathlib import Path
from typing import Any, Optional

import yaml
from aiohttp import web

from threadline.quiet import quiet_library_warnings

log = logging.getLogger("connectors.email.reader_service")

DEFAULT_PORT = 5054
CREDENTIALS_KEY = "connectors.email.channel.EmailInput"
_VARIABLE = re.compile(r"\$\{(\w+)\}")


def email_credentials(credentials_path: str) -> dict:
    """The email channel's entry of credentials.yml, its `${VAR}`s expanded from the environment
    (unset: empty, as `make run` passes them). Only this entry: the other channels' secrets
    are none of this process's business."""
    entry = (yaml.safe_load(Path(credentials_path).read_text()) or {}).get(CREDENTIALS_KEY) or {}
    return {key: _VARIABLE.sub(lambda match: os.environ.get(match.group(1), ""), value)
            if isinstance(value, str) else value for key, value in entry.items()}


def email_channel(credentials_path: str) -> Optional[Any]:
    """The email channel of credentials.yml when it is configured with an IMAP server, else None."""
    from connectors.email.channel import EmailInput

    channel = EmailInput.from_credentials(email_credentials(credentials_path))
    return channel if channel.enabled() and channel.settings.imap is not None else None


def health_app(channel: Any, state: dict) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        lease = channel.lease
        body = {**state, "reading": bool(lease and lease.holding.is_set())}
        return web.json_response(body, status=200 if state["status"] == "ok" else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def serve(channel: Any, port: int) -> None:
    """Read (while leased) until a signal arrives, then stop and give the lease back."""
    state = {"status": "starting", "pid": os.getpid()}
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    runner = web.AppRunner(health_app(channel, state))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    channel.reads_imap = True  # whatever THREADLINE_EMAIL_READER says: reading is this process's job

    async def no_turns(_message: Any) -> None:  # turns run in the inbox workers, never here
        raise RuntimeError("the email reader process runs no turns")

    try:
        await channel.start(no_turns, lambda: True)
        state["status"] = "ok"
        log.info("email reader: competing for lease %s; health on http://127.0.0.1:%d/health",
                 channel.lease.key, port)
        await stopping.wait()
        state["status"] = "stopping"
    finally:
        await channel.stop()
        await runner.cleanup()


def main() -> None:
    quiet_library_warnings()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", default="credentials.yml")
    args = parser.parse_args()
    channel = email_channel(args.credentials)
    if channel is None:
        raise SystemExit("email reader: the email channel has no IMAP server configured (EMAIL_ADDRESS, "
                         "EMAIL_IMAP_HOST, EMAIL_SMTP_HOST; docs/email.md): nothing to read")
    asyncio.run(serve(channel, int(os.environ.get("EMAIL_READER_PORT") or DEFAULT_PORT)))


if __name__ == "__main__":
    main()
