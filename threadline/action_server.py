"""`python -m threadline.action_server [rasa_sdk options]`: the action server on loopback.

rasa_sdk 3.6 has no host option: it binds to `SANIC_HOST`, default every interface, which would put
the unauthenticated action webhook on every interface. This entry point sets it from
`ACTION_HOST` (default 127.0.0.1), registers the merge-job sweep (actions/identity_claims.py:
durable merges after verified claims), then runs rasa_sdk's own command line unchanged.
"""
from __future__ import annotations

import os
import sys

from threadline.quiet import quiet_library_warnings


def main() -> None:
    quiet_library_warnings()
    os.environ["SANIC_HOST"] = os.environ.get("ACTION_HOST") or "127.0.0.1"
    from rasa_sdk.__main__ import main as rasa_sdk_main
    from rasa_sdk.plugin import plugin_manager

    from actions.identity_claims import merge_job_sweep

    plugin_manager().register(merge_job_sweep)

    sys.argv = ["rasa_sdk", *sys.argv[1:]]
    rasa_sdk_main()


if __name__ == "__main__":
    main()
