"""`rasa` with storage that fails loudly.

Rasa 3.6 replaces a tracker store it cannot import with an in-memory one and only warns:
every conversation would then be forgotten on restart and never shared between servers.
This entry point checks the stores named in endpoints.yml before Rasa starts and turns
that fallback into an error. Use it exactly like `rasa`:

    python -m threadline.rasa_server run --endpoints endpoints.yml ...
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from threadline.quiet import quiet_library_warnings

# Rasa's own names for its built-in stores; anything else must be an importable class.
BUILTIN_TRACKER_STORES = {"redis", "mongod", "dynamo", "sql"}
BUILTIN_LOCK_STORES = {"redis"}


class StoreConfigError(SystemExit):
    """Raised (and exits non-zero) when a store named in endpoints.yml is unusable."""

    def __init__(self, message: str) -> None:
        super().__init__(f"threadline: {message}")


def check_stores(endpoints_path: str) -> None:
    """Raise `StoreConfigError` unless both stores are shared, importable and reachable."""
    from rasa.core.utils import read_endpoints_from_path

    endpoints = read_endpoints_from_path(endpoints_path)
    for kind, config, builtin in (
        ("tracker_store", endpoints.tracker_store, BUILTIN_TRACKER_STORES),
        ("lock_store", endpoints.lock_store, BUILTIN_LOCK_STORES),
    ):
        if config is None or config.type in (None, "in_memory"):
            raise StoreConfigError(
                f"{endpoints_path} names no shared {kind}; conversations would live in one "
                f"process's memory. Configure a Redis {kind}."
            )
        if config.type in builtin:
            _ping_builtin_redis(kind, config)
            continue
        store_class = _import_store_class(kind, config.type)
        check = getattr(store_class, "check_connection", None)
        if check is not None:
            try:
                check(config)
            except Exception as error:  # any failure here means the store cannot work
                raise StoreConfigError(f"{kind} {config.type} cannot connect: {error}")


def _import_store_class(kind: str, module_path: str) -> type:
    from rasa.shared.utils.common import class_from_module_path

    try:
        return class_from_module_path(module_path)
    except (ImportError, AttributeError) as error:
        raise StoreConfigError(f"{kind} type '{module_path}' cannot be loaded: {error}")


def _ping_builtin_redis(kind: str, config) -> None:
    if config.type != "redis":
        return
    import redis

    kwargs = config.kwargs
    client = redis.Redis(
        host=config.url or "localhost",
        port=int(kwargs.get("port", 6379)),
        db=int(kwargs.get("db", 0)),
        password=kwargs.get("password"),
        socket_timeout=3,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        raise StoreConfigError(f"{kind} Redis at {config.url}:{kwargs.get('port')} is unreachable: {error}")


def _fail_turns_on_storage_errors() -> None:
    """Drop Rasa's FailSafeTrackerStore wrapper around the configured tracker store.

    On any store error that wrapper answers from an empty in-memory tracker (the customer is
    greeted like a stranger) and keeps the turn only in memory. Without it the turn fails
    (the caller gets an error and retries) and the stored history stays whole.
    """
    from rasa.core import agent

    wrap_fail_safe = agent.Agent._create_tracker_store

    def without_fail_safe(store, domain):
        if store is None:
            return wrap_fail_safe(store, domain)
        store.domain = domain
        return store

    agent.Agent._create_tracker_store = staticmethod(without_fail_safe)


def _forbid_silent_fallback() -> None:
    """Make Rasa's import-failure fallback to the in-memory tracker store an error."""
    import rasa.core.tracker_store as tracker_store

    def strict_load(domain, store, event_broker=None):
        # Same construction as Rasa's, minus the `except ImportError: InMemoryTrackerStore`.
        store_class = _import_store_class("tracker_store", store.type)
        return store_class(host=store.url, domain=domain, event_broker=event_broker, **store.kwargs)

    tracker_store._load_from_module_name_in_endpoint_config = strict_load


def _build_loaded_weights_eagerly() -> None:
    """Cut model loading from ~24 s to ~6 s on two cores, without slowing predictions.

    To give a loaded DIET/TED model weights of the right shape, Rasa trains it for one step
    first. With the default `run_eagerly: false` that step traces the whole training graph
    (~10 s per model), although a served model never trains. Here that one step runs
    eagerly; prediction is still traced once at load, exactly as Rasa does it, so the
    weights and the per-message cost are unchanged (tests/foundation/test_model_loading.py).
    """
    from rasa.utils.tensorflow.constants import RUN_EAGERLY
    from rasa.utils.tensorflow.models import RasaModel

    original_load = RasaModel.load.__func__

    def load(cls, model_file_name, model_data_example, predict_data_example=None,
             finetune_mode=False, *args, **kwargs):
        config = kwargs.get("config")
        if finetune_mode or config is None or config.get(RUN_EAGERLY):
            return original_load(cls, model_file_name, model_data_example,
                                 predict_data_example, finetune_mode, *args, **kwargs)
        kwargs["config"] = {**config, RUN_EAGERLY: True}
        model = original_load(cls, model_file_name, model_data_example, None, False,
                              *args, **kwargs)
        if isinstance(getattr(model, "config", None), dict):
            model.config[RUN_EAGERLY] = False
        model.run_eagerly = False
        if predict_data_example:
            model.run_inference(predict_data_example)
        return model

    RasaModel.load = classmethod(load)


def _endpoints_argument(argv: list[str]) -> Optional[str]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--endpoints", default="endpoints.yml")
    known, _ = parser.parse_known_args(argv)
    return known.endpoints


def prepare_to_serve(endpoints_path: str) -> None:
    """What every process that runs bot turns needs before it loads the agent (this server,
    threadline/inbox_worker.py): shared stores that fail loudly, fast model loading."""
    check_stores(endpoints_path)
    _fail_turns_on_storage_errors()
    _forbid_silent_fallback()
    _build_loaded_weights_eagerly()


def main(argv: Optional[list[str]] = None) -> None:
    quiet_library_warnings()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":
        check_stores(_endpoints_argument(argv[1:]))
        _fail_turns_on_storage_errors()
        token = os.environ.get("RASA_AUTH_TOKEN")
        if token and "--auth-token" not in argv:
            # Passed here rather than by the caller so the token never shows in `ps`.
            argv = [*argv, "--auth-token", token]
        if not {"-i", "--interface"} & set(argv):
            # Rasa's own default is every interface: the HTTP API and REST channel stay internal
            # unless RASA_HOST says otherwise, however this server is started.
            argv = [*argv, "--interface", os.environ.get("RASA_HOST") or "127.0.0.1"]
    _forbid_silent_fallback()
    _build_loaded_weights_eagerly()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *argv]
    rasa_main()


if __name__ == "__main__":
    main()
