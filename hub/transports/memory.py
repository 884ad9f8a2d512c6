"""The embedded in-memory transport: the demo's network and the fast unit tests' broker.

It behaves like a small AMQP broker in one process: named inbox queues, manual acknowledgement,
unacknowledged deliveries returned on close or connection loss. Faults can be injected
(``cut``, ``drop_next``, ``down``) so that the core's recovery is exercised without a real
broker. It is never the proof that a real transport works: tests do that against RabbitMQ and
Mosquitto.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import Literal

from ..errors import NotAcknowledged, NotConnected
from .base import Delivery, Inbox, Outlet, TransportKind, TransportSettings

_BROKERS: dict[str, "MemoryBroker"] = {}


def get_broker(name: str = "default") -> "MemoryBroker":
    """The process-wide broker called ``name`` (created on first use)."""
    broker = _BROKERS.get(name)
    if broker is None:
        broker = _BROKERS[name] = MemoryBroker(name)
    return broker


def drop_broker(name: str) -> None:
    """Forget a broker (tests use one per test)."""
    _BROKERS.pop(name, None)


class _Queue:
    def __init__(self) -> None:
        self.ready: deque[tuple[bytes, bool]] = deque()
        self.unacked: dict[int, tuple[bytes, int]] = {}  # tag -> (body, connection epoch)
        self.dead: list[bytes] = []
        self.event = asyncio.Event()

    def put(self, body: bytes, redelivered: bool = False, front: bool = False) -> None:
        (self.ready.appendleft if front else self.ready.append)((body, redelivered))
        self.event.set()


class MemoryBroker:
    """A named in-process broker holding one queue per inbox."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queues: dict[str, _Queue] = {}
        self.down = False  # while True, connect/read/write raise NotConnected
        self.epoch = 0  # bumped by cut(): every connection of an older epoch is dead
        self._drop_next: dict[str | None, int] = {}
        self._tags = itertools.count(1)
        self.published = 0

    # -- fault injection -------------------------------------------------------------------
    def cut(self) -> None:
        """Drop every connection: unacknowledged deliveries go back to their queues."""
        self.epoch += 1
        for queue in self.queues.values():
            for tag, (body, _epoch) in sorted(queue.unacked.items()):
                queue.put(body, redelivered=True)
            queue.unacked.clear()
            queue.event.set()

    def drop_next(self, count: int, queue: str | None = None) -> None:
        """Silently lose the next ``count`` messages published (to ``queue``, or to any queue)
        while confirming them, as a broker over its queue limit does."""
        self._drop_next[queue] = self._drop_next.get(queue, 0) + count

    # -- broker operations -----------------------------------------------------------------
    def declare(self, queue: str) -> _Queue:
        return self.queues.setdefault(queue, _Queue())

    def publish(self, queue: str, body: bytes) -> None:
        if self.down:
            raise NotConnected(f"memory broker {self.name} is down")
        target = self.queues.get(queue)
        if target is None:
            raise NotAcknowledged(f"no inbox queue {queue!r} on memory broker {self.name}")
        self.published += 1
        for key in (queue, None):
            if self._drop_next.get(key):
                self._drop_next[key] -= 1
                return
        target.put(bytes(body))

    def depth(self, queue: str) -> int:
        q = self.queues.get(queue)
        return len(q.ready) + len(q.unacked) if q else 0


class MemorySettings(TransportSettings):
    kind: Literal["memory"] = "memory"
    broker: str = "default"
    queue: str | None = None  # default: porthub.<hub>.inbox


def _queue_name(settings: MemorySettings, hub_id: str) -> str:
    return settings.queue or f"porthub.{hub_id}.inbox"


class MemoryInbox(Inbox):
    def __init__(self, settings: MemorySettings, hub_id: str) -> None:
        self.broker = get_broker(settings.broker)
        self.queue_name = _queue_name(settings, hub_id)
        self._epoch: int | None = None

    def _check(self) -> _Queue:
        if self._epoch is None or self._epoch != self.broker.epoch or self.broker.down:
            self._epoch = None
            raise NotConnected(f"memory inbox {self.queue_name} lost its connection")
        return self.broker.queues[self.queue_name]

    async def connect(self) -> None:
        if self.broker.down:
            raise NotConnected(f"memory broker {self.broker.name} is down")
        self.broker.declare(self.queue_name)
        self._epoch = self.broker.epoch

    async def read(self) -> Delivery:
        while True:
            queue = self._check()
            if queue.ready:
                return self._take(queue)
            queue.event.clear()
            await queue.event.wait()

    def read_nowait(self) -> Delivery | None:
        try:
            queue = self._check()
        except NotConnected:
            return None
        return self._take(queue) if queue.ready else None

    def _take(self, queue: _Queue) -> Delivery:
        body, redelivered = queue.ready.popleft()
        tag = next(self.broker._tags)
        queue.unacked[tag] = (body, self._epoch)
        return Delivery(body=body, ack=lambda: self._settle(tag, dead=False),
                        reject=lambda: self._settle(tag, dead=True), redelivered=redelivered)

    async def _settle(self, tag: int, dead: bool) -> None:
        queue = self._check()
        entry = queue.unacked.pop(tag, None)
        if entry is None:  # the delivery went back to the queue when the connection was cut
            raise NotConnected("delivery tag unknown: the connection was lost")
        if dead:
            queue.dead.append(entry[0])

    async def close(self) -> None:
        if self._epoch is not None and self._epoch == self.broker.epoch:
            queue = self.broker.queues[self.queue_name]
            for tag in sorted(t for t, (_, e) in queue.unacked.items() if e == self._epoch):
                queue.put(queue.unacked.pop(tag)[0], redelivered=True)
        self._epoch = None

    def describe(self) -> str:
        return f"memory://{self.broker.name}/{self.queue_name}"


class MemoryOutlet(Outlet):
    def __init__(self, settings: MemorySettings, peer_id: str) -> None:
        self.broker = get_broker(settings.broker)
        self.queue_name = _queue_name(settings, peer_id)
        self._epoch: int | None = None

    async def connect(self) -> None:
        if self.broker.down:
            raise NotConnected(f"memory broker {self.broker.name} is down")
        self._epoch = self.broker.epoch

    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        if self._epoch is None or self._epoch != self.broker.epoch:
            self._epoch = None
            raise NotConnected(f"memory outlet to {self.queue_name} lost its connection")
        self.broker.publish(self.queue_name, body)
        await asyncio.sleep(0)  # a real broker confirms later; let other tasks run meanwhile

    async def close(self) -> None:
        self._epoch = None

    def describe(self) -> str:
        return f"memory://{self.broker.name}/{self.queue_name}"


class _MemoryKind(TransportKind):
    name = "memory"
    settings = MemorySettings

    def inbox(self, settings: TransportSettings, hub_id: str) -> Inbox:
        assert isinstance(settings, MemorySettings)
        return MemoryInbox(settings, hub_id)

    def outlet(self, settings: TransportSettings, peer_id: str, hub_id: str) -> Outlet:
        assert isinstance(settings, MemorySettings)
        return MemoryOutlet(settings, peer_id)


KIND = _MemoryKind()
