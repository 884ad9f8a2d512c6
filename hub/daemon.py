"""``porthub run``: one hub in the foreground until SIGTERM or SIGINT; SIGHUP reloads.

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

from . import heap, logs, systemd
from .config import HubConfig, load_config
from .core import Hub
from .encryption import Encryption
from .errors import ConfigError, PermanentError
from .http import HttpListener
from .security.identity import Identity
from .security.trust import TrustStore

log = logging.getLogger(__name__)

EXIT_OK, EXIT_CRASH, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3
STOP_TIMEOUT = 20.0  # seconds SIGTERM waits for in-flight messages before closing anyway


def load(config_path: Path) -> tuple[HubConfig, Identity, TrustStore]:
    """Everything a hub needs from files, validated: raises ConfigError or PermanentError."""
    config = load_config(config_path)
    identity = Identity.load(config.hub.key, config.hub.cert)
    trust = TrustStore.from_files(config.hub.ca, config.hub.crl)
    if identity.hub_id != config.hub.id:
        raise ConfigError(f"{config.hub.cert} is the certificate of hub {identity.hub_id!r}, "
                          f"but hub.id is {config.hub.id!r}")
    Encryption.load(config, trust)  # keys and peers' encryption certificates, checked now
    return config, identity, trust


class Daemon:
    def __init__(self, config_path: Path, log_level: str | None = None) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.hub: Hub | None = None
        self.http: HttpListener | None = None
        self._stop = asyncio.Event()
        self._reloads: asyncio.Queue[None] = asyncio.Queue()

    async def serve(self, config: HubConfig, identity: Identity, trust: TrustStore) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reloads.put_nowait, None)
        self.hub = Hub(config, identity, trust)
        await self.hub.start()
        heap.settle()  # what start-up made lives as long as the process
        if config.http.enabled:
            self.http = HttpListener(self.hub, config.http.listen)
            await self.http.start()
        background = [asyncio.create_task(self._reload_loop(), name="reload")]
        interval = systemd.watchdog_interval()
        if interval:
            background.append(asyncio.create_task(systemd.watchdog_loop(interval)))
        systemd.notify("READY=1", f"STATUS=hub {self.hub.id} running")
        log.info("hub %s running", self.hub.id, extra={"hub": self.hub.id})
        await self._stop.wait()
        systemd.notify("STOPPING=1")
        log.info("hub %s stopping", self.hub.id, extra={"hub": self.hub.id})
        for task in background:
            task.cancel()
        if self.http:
            await self.http.close()
        await self.hub.stop(STOP_TIMEOUT)

    async def _reload_loop(self) -> None:
        while True:
            await self._reloads.get()
            await self.reload()

    async def reload(self) -> bool:
        """Load the configuration file beside the running one; swap only if it is valid."""
        systemd.reloading()
        try:
            config, identity, trust = load(self.config_path)
            if config.http != self.hub.config.http:
                raise PermanentError("the http section cannot change without a restart")
            changes = await self.hub.reload(config, identity, trust)
        except (ConfigError, PermanentError) as exc:
            log.error("reload refused, still running on the previous configuration: %s", exc,
                      extra={"hub": self.hub.id})
            systemd.notify("READY=1", "STATUS=reload refused; running on the old configuration")
            return False
        logs.setup(self.log_level or config.log.level)
        log.info("configuration reloaded: %s", "; ".join(changes) or "no change to peers",
                 extra={"hub": self.hub.id})
        systemd.notify("READY=1", f"STATUS=hub {self.hub.id} running")
        return True


def run(config_path: Path, log_level: str | None = None) -> int:
    try:
        config, identity, trust = load(config_path)
    except (ConfigError, PermanentError) as exc:
        print(f"porthub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(log_level or config.log.level)

    async def main() -> int:
        daemon = Daemon(config_path, log_level)
        try:
            await daemon.serve(config, identity, trust)
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
