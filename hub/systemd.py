"""systemd's notification protocol (sd_notify), for ``Type=notify`` units.

``READY=1`` once the hub serves, ``RELOADING=1`` (with ``MONOTONIC_USEC``, as systemd 253+
expects) and ``READY=1`` around a reload, ``STOPPING=1`` on SIGTERM, and ``WATCHDOG=1`` every
half watchdog interval -- sent from the event loop itself, so a loop that hangs stops the pings
and systemd restarts the hub. Without ``NOTIFY_SOCKET`` (not under systemd) every call is a
no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return None
    return "\0" + address[1:] if address.startswith("@") else address


def notify(*fields: str) -> bool:
    """Send one notification (``"READY=1"``, ...); False when not under systemd or it failed."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
        return True
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", address.lstrip("\0"), exc)
        return False


def reloading() -> bool:
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def watchdog_interval() -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``) when the unit has a watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


async def watchdog_loop(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
