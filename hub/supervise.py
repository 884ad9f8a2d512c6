"""Connecting a transport component with back-off, the one place reconnects happen."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from .backoff import Backoff
from .errors import TransientError
from .transports.base import Inbox, Outlet

log = logging.getLogger(__name__)


async def connect_with_backoff(component: Inbox | Outlet, backoff: Backoff,
                               on_error: Callable[[str], None]) -> None:
    """Call ``component.connect()`` until it succeeds, waiting longer after each failure.

    Transient errors are expected (the broker is down, the link is cut) and retried for ever;
    anything else is a bug or a permanent misconfiguration and propagates.
    """
    attempt = 0
    while True:
        try:
            await component.connect()
            return
        except TransientError as exc:
            attempt += 1
            on_error(str(exc))
            try:
                await component.close()
            except Exception:  # noqa: BLE001 - closing a half-open component may fail
                log.debug("closing %s after a failed connect failed", component.describe())
            await asyncio.sleep(backoff.delay(attempt))
