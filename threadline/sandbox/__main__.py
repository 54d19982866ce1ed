"""`python -m threadline.sandbox`: run the sandbox provider on 127.0.0.1 (Ctrl-C stops it)."""
from __future__ import annotations

import logging

from aiohttp import web

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.modes import ChannelConfigError
from threadline.sandbox.provider import Sandbox
from threadline.quiet import quiet_library_warnings
from threadline.settings import load_env_file


def main() -> None:
    quiet_library_warnings()
    load_env_file()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = SandboxConfig.from_env()
    except ChannelConfigError as error:
        raise SystemExit(f"threadline: {error}") from None
    # The token is generated here when THREADLINE_SANDBOX_TOKEN is unset (started without `make run`).
    print(f"sandbox provider on {config.page_url()} (channels: {', '.join(config.channels)})", flush=True)
    web.run_app(Sandbox(config).app(), host="127.0.0.1", port=config.port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
