"""Connecting a transport component with back-off, the one place reconnects happen."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from .backoff import Backoff
from .errors import TransientError
from .transports.base import Inbox, Outlet

log = logging.getLogger(__name__)


MAX_REASONS_LOGGED = 10  # per outage: a reason text that keeps changing must not flood the log


async def connect_with_backoff(component: Inbox | Outlet, backoff: Backoff,
                               on_error: Callable[[str], None], what: str) -> None:
    """Call ``component.connect()`` until it succeeds, waiting longer after each failure.

    Transient errors are expected (the broker is down, the link is cut) and retried for ever;
    anything else is a bug or a permanent misconfiguration and propagates. Each distinct
    reason is logged once as "``what`` cannot connect: ...", not at every attempt: a broker
    that refuses the hub's certificate for days says so once, and a component that never
    connected at all is not silent either.
    """
    attempt = 0
    said: set[str] = set()
    while True:
        try:
            await component.connect()
            return
        except TransientError as exc:
            attempt += 1
            reason = str(exc)
            if reason not in said and len(said) < MAX_REASONS_LOGGED:
                said.add(reason)
                log.warning("%s cannot connect: %s", what, reason)
            on_error(reason)
            try:
                await component.close()
            except Exception:  # noqa: BLE001 - closing a half-open component may fail
                log.debug("closing %s after a failed connect failed", component.describe())
            await asyncio.sleep(backoff.delay(attempt))
