"""Reading the hub's own inbox: keeps it connected and hands the deliveries to the hub in
batches -- whatever has arrived, up to a bound -- so that one store commit and one signed
receipt serve many messages, with several batches in hand at once."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Sequence

from .backoff import Backoff
from .errors import NotConnected
from .supervise import connect_with_backoff
from .transports.base import Delivery, Inbox

log = logging.getLogger(__name__)


MAX_BATCH = 64  # deliveries handed over at once (the AMQP inbox's default prefetch)
PARALLEL = 8  # batches in hand at once


class Intake:
    """Runs as one task; each batch is handled in a task of its own (at most ``parallel``)."""

    def __init__(self, inbox: Inbox, handle: Callable[[Sequence[Delivery]], Awaitable[None]],
                 backoff: Backoff, on_state: Callable[[bool, str | None], None],
                 parallel: int = PARALLEL, batch: int = MAX_BATCH) -> None:
        self.inbox = inbox
        self.handle = handle
        self.backoff = backoff
        self.on_state = on_state
        self.batch = batch
        self.connected = False
        self.last_error: str | None = None
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        while True:
            await connect_with_backoff(self.inbox, self.backoff, self._failed, "inbox")
            self._state(True, None)
            try:
                while True:
                    await self._slots.acquire()
                    try:
                        deliveries = await self._read_batch()
                    except BaseException:
                        self._slots.release()
                        raise
                    task = asyncio.create_task(self._one(deliveries))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except NotConnected as exc:
                self._state(False, str(exc))
                await self.inbox.close()

    async def _read_batch(self) -> list[Delivery]:
        """The next delivery, waiting for it, and whatever else has already arrived."""
        deliveries = [await self.inbox.read()]
        while len(deliveries) < self.batch:
            more = self.inbox.read_nowait()
            if more is None:
                break
            deliveries.append(more)
        return deliveries

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for deliveries being handled to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _one(self, deliveries: list[Delivery]) -> None:
        try:
            await self.handle(deliveries)
        except NotConnected:
            pass  # not acknowledged: the broker delivers it again, the inbox deduplicates it
        except Exception:  # noqa: BLE001 - one bad delivery must not stop the inbox
            log.exception("handling %d inbound messages failed; what was not acknowledged "
                          "stays on the broker", len(deliveries))
        finally:
            self._slots.release()

    def _failed(self, error: str) -> None:
        self._state(False, error)

    def _state(self, connected: bool, error: str | None) -> None:
        if error:
            self.last_error = error
        if connected != self.connected:
            self.connected = connected
            self.on_state(connected, error)
