"""A hub's link to one peer: writes the outbox's messages and this hub's receipts to the peer's
inbox, keeps the in-flight window, and resends what was not receipted in time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from . import events as ev
from .backoff import Backoff, wait_event
from .errors import NotAcknowledged, NotConnected
from .supervise import connect_with_backoff
from .transports.base import Outlet

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)

MAX_PENDING_RECEIPTS = 10_000  # beyond this a receipt is dropped: the sender's resend recovers it
# Seconds between looks at the store when nothing wakes a link (or the hub's expiry and
# hand-over timers): what another process wrote there, such as the command line's
# ``porthub dlq retry``, is taken up within this time.
IDLE_POLL = 5.0


def sleep_for(due: float | None, now: float) -> float:
    """How long a timer sleeps at ``now``: until ``due`` (None: nothing is), at most
    ``IDLE_POLL``."""
    return IDLE_POLL if due is None else max(0.0, min(IDLE_POLL, due - now))


class PeerLink:
    """Owns the outlet to ``peer``; runs as one task on the hub's loop."""

    def __init__(self, hub: "Hub", peer: str, outlet: Outlet) -> None:
        self.hub = hub
        self.peer = peer
        self.outlet = outlet
        self.up = False
        self.since = time.time()
        self.last_error: str | None = None
        self.wake = asyncio.Event()
        self.receipts: deque[bytes] = deque()
        retry = hub.config.retry
        self._reconnect = Backoff(retry.reconnect_initial, retry.reconnect_maximum)
        self._resend = Backoff(retry.receipt_timeout, retry.maximum)
        self._writes = asyncio.Semaphore(max(1, outlet.max_in_flight))

    def status(self) -> dict:
        return {"peer": self.peer, "up": self.up, "since": self.since,
                "last_error": self.last_error, "target": self.outlet.describe(),
                "pending_receipts": len(self.receipts)}

    def send_receipt(self, receipt: bytes) -> None:
        """Queue a receipt for the peer (kept in memory only: if it is lost, the peer resends
        its message and gets the stored receipt again)."""
        if len(self.receipts) >= MAX_PENDING_RECEIPTS:
            self.receipts.popleft()
        self.receipts.append(receipt)
        self.wake.set()

    async def run(self) -> None:
        while True:
            await connect_with_backoff(self.outlet, self._reconnect, self._failed,
                                       f"link to {self.peer}")
            self._set_up(True, None)
            try:
                await self._pump()
            except NotConnected as exc:
                self._set_up(False, str(exc))
                await self.outlet.close()

    async def close(self) -> None:
        await self.outlet.close()

    def _failed(self, error: str) -> None:
        self._set_up(False, error)

    def _set_up(self, up: bool, error: str | None) -> None:
        if up != self.up:
            self.since = time.time()
            log.log(logging.INFO if up else logging.WARNING, "link to %s %s%s", self.peer,
                    "up" if up else "down", f": {error}" if error else "",
                    extra={"peer": self.peer})
            self.hub.emit(ev.LINK_UP if up else ev.LINK_DOWN, peer=self.peer, reason=error)
        self.up = up
        if error:
            self.last_error = error

    async def _write(self, body: bytes, message_id: str) -> None:
        """One write, bounded in time: a broker that takes a message but never confirms it (a
        quorum queue without a majority, a blackholed link) must not hold the link forever."""
        async with self._writes:
            try:
                async with asyncio.timeout(self.hub.config.retry.write_timeout):
                    await self.outlet.write(body, message_id)
            except TimeoutError:
                raise NotConnected(f"no confirm from {self.outlet.describe()} within "
                                   f"{self.hub.config.retry.write_timeout:g} s") from None

    async def _pump(self) -> None:
        """Write what falls due as soon as it does, while earlier writes still wait for the
        broker's confirm: confirms (RabbitMQ's come after its fsync, tens of milliseconds)
        never hold back the next message. Each write is recorded when it ends; at most
        ``retry.window`` messages are out unreceipted, being written or sent."""
        store, clock, retry = self.hub.store, self.hub.clock, self.hub.config.retry
        writing: set[str] = set()  # ids of the messages being written
        ended: list[tuple[str, Any, BaseException | None]] = []  # (kind, row or receipt, error)
        tasks: dict[asyncio.Task, tuple[str, Any]] = {}  # the writes out: (kind, item)

        def start(kind: str, item: Any, body: bytes, message_id: str) -> None:
            task = asyncio.create_task(self._write(body, message_id))
            tasks[task] = (kind, item)

            def end(task: asyncio.Task) -> None:
                tasks.pop(task, None)
                if not task.cancelled():
                    ended.append((kind, item, task.exception()))
                    self.wake.set()

            task.add_done_callback(end)

        try:
            while True:
                self.wake.clear()
                if ended:
                    batch = ended.copy()
                    ended.clear()
                    await self._record(batch, writing)
                while self.receipts:
                    receipt = self.receipts.popleft()
                    start("receipt", receipt, receipt, "receipt")
                now = clock()
                rows, next_due = await store.due_outgoing(self.peer, now, retry.window, writing)
                for row in rows:
                    writing.add(row["id"])
                    start("message", row, row["jws"], row["id"])
                if rows or ended or self.receipts:
                    continue
                await wait_event(self.wake, sleep_for(next_due, now))
        finally:
            # A receipt not known to be written is kept for the next connection (twice is
            # harmless: the sender settles a message once); a message stays in the outbox.
            unsure = [item for kind, item in tasks.values() if kind == "receipt"]
            unsure += [item for kind, item, error in ended if kind == "receipt" and error]
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.receipts.extendleft(reversed(unsure))

    async def _record(self, batch: list[tuple[str, Any, BaseException | None]],
                      writing: set[str]) -> None:
        """Record writes that ended: the messages the broker took as sent (a first write) or
        retried, refusals postponed; raise ``NotConnected`` if the connection went."""
        store, now = self.hub.store, self.hub.clock()
        taken, lost, refused = [], None, None  # taken: the rows the broker took
        for kind, item, error in batch:
            if isinstance(error, NotConnected):
                lost = error
            elif error is not None and not isinstance(error, NotAcknowledged):
                raise error
            if kind == "receipt":
                if error is not None:
                    self.receipts.appendleft(item)  # written again when the link allows
                    refused = refused or error
                continue
            writing.discard(item["id"])
            if error is None:
                taken.append(item)
            elif isinstance(error, NotAcknowledged):
                log.warning("broker refused message %s for %s: %s", item["id"], self.peer,
                            error, extra={"message_id": item["id"], "peer": self.peer})
                await store.postpone(item["id"], now + self._resend.delay(item["attempts"] + 1),
                                     "broker refused", now)
        sent = [(row["id"], now + self._resend.delay(row["attempts"] + 1)) for row in taken]
        moved = set(await store.mark_sent(sent, now)) if sent else set()
        # Every write the broker took counts: a first one as sent (once it moved the message
        # to 'sent'), any later one as a retry, even if the receipt of an earlier copy settled
        # the message while this one was being written.
        for row in taken:
            first = row["state"] == "queued"
            if first and row["id"] in moved:
                self.hub.emit(ev.SENT, message_id=row["id"], peer=self.peer)
            elif not first:
                self.hub.emit(ev.RETRIED, message_id=row["id"], peer=self.peer)
        if lost is not None:
            raise lost
        if refused is not None:
            log.warning("broker refused a receipt for %s: %s", self.peer, refused)
            await asyncio.sleep(self._reconnect.delay(1))
