"""A hub's link to one peer: writes the outbox's messages and this hub's receipts to the peer's
inbox, keeps the in-flight window, and resends what was not receipted in time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from . import events as ev
from .backoff import Backoff, wait_event
from .errors import NotAcknowledged, NotConnected
from .supervise import connect_with_backoff
from .transports.base import Outlet

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)

MAX_PENDING_RECEIPTS = 10_000  # beyond this a receipt is dropped: the sender's resend recovers it
IDLE_POLL = 5.0  # seconds between looks at the outbox when nothing wakes the link


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
        store, clock, retry = self.hub.store, self.hub.clock, self.hub.config.retry
        while True:
            self.wake.clear()
            if self.receipts:
                await self._flush_receipts()
            now = clock()
            rows = await store.due_outgoing(self.peer, now, retry.window)
            if not rows:
                if self.receipts:
                    continue
                next_due = await store.next_due(self.peer, now)
                timeout = IDLE_POLL if next_due is None else max(0.0, min(IDLE_POLL, next_due - now))
                await wait_event(self.wake, timeout)
                continue
            results = await asyncio.gather(*(self._write(row["jws"], row["id"]) for row in rows),
                                           return_exceptions=True)
            now = clock()
            sent, lost_connection = [], None
            for row, result in zip(rows, results):
                if result is None:
                    sent.append((row["id"], now + self._resend.delay(row["attempts"] + 1)))
                elif isinstance(result, NotAcknowledged):
                    log.warning("broker refused message %s for %s: %s", row["id"], self.peer,
                                result, extra={"message_id": row["id"], "peer": self.peer})
                    await store.postpone(row["id"], now + self._resend.delay(row["attempts"] + 1),
                                         "broker refused", now)
                elif isinstance(result, NotConnected):
                    lost_connection = result
                else:
                    raise result
            moved = set(await store.mark_sent(sent, now)) if sent else set()
            states = {row["id"]: row["state"] for row in rows}
            # Every write the broker took counts: a first one as sent (once it moved the
            # message to 'sent'), any later one as a retry, even if the receipt of an
            # earlier copy settled the message while this one was being written.
            for message_id, _next in sent:
                first = states[message_id] == "queued"
                if first and message_id in moved:
                    self.hub.emit(ev.SENT, message_id=message_id, peer=self.peer)
                elif not first:
                    self.hub.emit(ev.RETRIED, message_id=message_id, peer=self.peer)
            if lost_connection is not None:
                raise lost_connection

    async def _flush_receipts(self) -> None:
        batch = list(self.receipts)
        self.receipts.clear()
        results = await asyncio.gather(*(self._write(r, "receipt") for r in batch),
                                       return_exceptions=True)
        failed = [r for r, res in zip(batch, results) if res is not None]
        errors = [res for res in results if res is not None]
        if failed:
            self.receipts.extendleft(reversed(failed))
            if any(isinstance(e, NotConnected) for e in errors):
                raise next(e for e in errors if isinstance(e, NotConnected))
            log.warning("broker refused %d receipts for %s: %s", len(failed), self.peer, errors[0])
            await asyncio.sleep(self._reconnect.delay(1))
