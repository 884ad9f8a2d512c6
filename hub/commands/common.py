"""What the sub-commands share: loading a hub's configuration and working on its store."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..errors import ConfigError, PermanentError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
DEFAULT_CONFIG = Path("/etc/porthub/porthub.yaml")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"the hub's YAML configuration (default {DEFAULT_CONFIG})")


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"porthub: {message}", file=sys.stderr)
    return code


def with_hub(body: Callable[[Any, argparse.Namespace], Awaitable[int]]
             ) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: load the hub named by ``--config`` (keys, trust, store; not started),
    run ``body(hub, args)`` on an event loop, close the store."""

    def command(args: argparse.Namespace) -> int:
        from ..core import Hub
        from ..daemon import load

        try:
            config, identity, trust = load(args.config)
        except (ConfigError, PermanentError) as exc:
            return fail(f"configuration error: {exc}", EXIT_CONFIG)
        hub = Hub(config, identity, trust)

        async def run() -> int:
            hub.open_store()
            try:
                return await body(hub, args)
            finally:
                hub.store.close()

        return asyncio.run(run())

    return command


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
