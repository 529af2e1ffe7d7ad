"""The pmip6d daemon: configuration in, a running LMA or MAG service out."""

from __future__ import annotations

import asyncio
import sys

from pmip6d.config import ConfigError, load_node_config, load_policy
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.reactor import Reactor

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def run_daemon(config_path: str) -> int:
    try:
        config = load_node_config(config_path)
        policy = load_policy(config.policy_file)
    except ConfigError as exc:
        print(f"pmip6d: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    log = EventLog(config.node_name, config.log_format)
    if config.role == "lma":
        from pmip6d.daemon.lma_service import LmaService

        service = LmaService(config, policy, log)
    else:
        from pmip6d.daemon.mag_service import MagService

        service = MagService(config, policy, log)
    try:
        asyncio.run(Reactor(service, config.control_socket, log).run())
    except PermissionError as exc:
        print(
            f"pmip6d: {exc.strerror or exc}: pmip6d needs CAP_NET_ADMIN and CAP_NET_RAW",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    except OSError as exc:
        print(f"pmip6d: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        print(f"pmip6d: stopped by {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return 0
