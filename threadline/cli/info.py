"""`threadline info`: where this installation keeps its data and what it connects to."""
from __future__ import annotations

from threadline.cli.output import emit
from threadline.settings import Settings


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("info", parents=[common], help="show configuration and data locations")
    parser.set_defaults(handler=run)


def run(args) -> int:
    s = Settings.from_env()
    payload = {
        "project_dir": str(s.project_dir),
        "var_dir": str(s.var_dir),
        "redis_url": s.redis_url or f"redis://127.0.0.1:{s.local_redis_port}/0 (project-local)",
        "rasa_port": s.rasa_port,
        "action_port": s.action_port,
    }
    emit(args, payload, lambda p: "\n".join(f"{k:12} {v}" for k, v in p.items()))
    return 0
