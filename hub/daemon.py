"""``porthub run``: one hub in the foreground until SIGTERM or SIGINT.

Exit codes (docs/operations.md): 0 stopped cleanly, 1 crashed, 2 configuration error
(including keys and certificates that cannot be used), 3 the store cannot be opened.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
from pathlib import Path

from .config import load_config
from .core import Hub
from .errors import ConfigError, PermanentError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_CRASH, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3
STOP_TIMEOUT = 20.0  # seconds SIGTERM waits for in-flight messages before closing anyway


async def serve(hub: Hub, stop: asyncio.Event) -> None:
    await hub.start()
    log.info("hub %s running", hub.id)
    await stop.wait()
    log.info("hub %s stopping", hub.id)
    await hub.stop(STOP_TIMEOUT)


def run(config_path: Path) -> int:
    try:
        config = load_config(config_path)
        hub = Hub.from_config(config)
    except (ConfigError, PermanentError) as exc:
        print(f"porthub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(hub, stop)
        except (sqlite3.Error, OSError) as exc:
            print(f"porthub: cannot open the store in {config.hub.data_dir}: {exc}",
                  file=sys.stderr)
            return EXIT_STORE
        return EXIT_OK

    try:
        return asyncio.run(main())
    except Exception:  # noqa: BLE001 - the exit code says "crashed"; the traceback says why
        log.exception("hub crashed")
        return EXIT_CRASH
