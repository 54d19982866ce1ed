"""`threadline serve COMPONENT`: run one component in the foreground, as `make run` runs it.

    bin/threadline serve rasa|actions|worker|timeline|followups|console|email

For spreading components over machines (docs/deploy.md, "Components"): the process is
replaced by the component's (`exec`), so signals and the exit code are its own. It reads its
configuration from the environment (REDIS_URL and CRM_DATABASE_URL are required here: no
project-local Redis is started) and starts from the project folder (endpoints.yml,
credentials.yml, models/).
"""
from __future__ import annotations

import os
import sys

from threadline.components import COMPONENTS, component_args
from threadline.settings import PROJECT_DIR, Settings

REQUIRED = ("REDIS_URL", "CRM_DATABASE_URL")


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("serve", help="run one component in the foreground (rasa, actions, worker, timeline, followups, console, email)")
    parser.add_argument("component", choices=sorted(COMPONENTS))
    parser.set_defaults(handler=_serve)


def _serve(args) -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name, "").strip()]
    if missing:
        print(f"threadline: serve {args.component} needs {' and '.join(missing)} set "
              "(`make run` starts everything on one machine without them)", file=sys.stderr)
        return 2
    argv = [sys.executable, *component_args(args.component, Settings.from_env())]
    os.chdir(PROJECT_DIR)
    os.execv(sys.executable, argv)
    return 0  # not reached: exec replaced this process
