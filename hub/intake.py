"""Reading the hub's own inbox: keeps it connected and hands every delivery to the hub,
several at a time so that their store commits are grouped."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from .backoff import Backoff
from .errors import NotConnected
from .supervise import connect_with_backoff
from .transports.base import Delivery, Inbox

log = logging.getLogger(__name__)


class Intake:
    """Runs as one task; each delivery is handled in a task of its own (at most ``parallel``)."""

    def __init__(self, inbox: Inbox, handle: Callable[[Delivery], Awaitable[None]],
                 backoff: Backoff, on_state: Callable[[bool, str | None], None],
                 parallel: int = 64) -> None:
        self.inbox = inbox
        self.handle = handle
        self.backoff = backoff
        self.on_state = on_state
        self.connected = False
        self.last_error: str | None = None
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        while True:
            await connect_with_backoff(self.inbox, self.backoff, self._failed)
            self._state(True, None)
            try:
                while True:
                    delivery = await self.inbox.read()
                    await self._slots.acquire()
                    task = asyncio.create_task(self._one(delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except NotConnected as exc:
                self._state(False, str(exc))
                await self.inbox.close()

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for deliveries being handled to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _one(self, delivery: Delivery) -> None:
        try:
            await self.handle(delivery)
        except NotConnected:
            pass  # not acknowledged: the broker delivers it again, the inbox deduplicates it
        except Exception:  # noqa: BLE001 - one bad delivery must not stop the inbox
            log.exception("handling an inbound message failed; it stays unacknowledged")
        finally:
            self._slots.release()

    def _failed(self, error: str) -> None:
        # An inbox that never connected (say, its broker refuses the hub's TLS certificate at
        # start) would otherwise never be logged: say why once, and again when it changes.
        if not self.connected and error != self.last_error:
            log.warning("inbox cannot connect: %s", error)
        self._state(False, error)

    def _state(self, connected: bool, error: str | None) -> None:
        if error:
            self.last_error = error
        if connected != self.connected:
            self.connected = connected
            self.on_state(connected, error)
