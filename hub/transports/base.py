"""The transport interface: how a hub reads its own inbox and writes to its peers' inboxes.

A hub owns one *inbox* on a broker it controls and has one *outlet* per peer, pointing at that
peer's inbox (possibly on another kind of broker). Both follow one lifecycle, owned by the core
(see docs/architecture.md):

* ``connect()`` is called by the core, again and again with back-off and jitter, until it
  returns. A component never reconnects by itself; it only raises ``NotConnected``.
* ``read()`` / ``write()`` raise ``NotConnected`` when the connection is gone (the core marks the
  link down and calls ``connect()`` again) and ``NotAcknowledged`` when the broker refused one
  message (negative confirm, unroutable, dropped).
* ``close()`` releases everything; unacknowledged deliveries go back to the broker.

Nothing here promises end-to-end delivery: a broker acknowledgement is one hop. Only the
recipient's signed receipt ends a message's journey, so a transport may lose or duplicate a
message without breaking the hub's guarantees -- it only costs a retry.

All methods are coroutines on the hub's event loop. Implementations that need a thread of their
own (none do today) must hand results back with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from pydantic import BaseModel, ConfigDict


class TransportSettings(BaseModel):
    """Base of every transport's typed settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    kind: str


@dataclass
class Delivery:
    """One message taken from the inbox and not yet settled.

    The core calls exactly one of ``ack`` (after the inbox commit) or ``reject`` (the message is
    not acceptable: the broker dead-letters it where it can, otherwise drops it -- the hub has
    already recorded it in its own store and audit log).
    """

    body: bytes
    ack: Callable[[], Awaitable[None]]
    reject: Callable[[], Awaitable[None]]
    redelivered: bool = False
    meta: dict = field(default_factory=dict)
    encoding: str | None = None  # the content encoding it came with (transports/encoding.py)


class Inbox(abc.ABC):
    """Input side: the hub's own inbox."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection and declare what is needed. Raise ``NotConnected`` on failure."""

    @abc.abstractmethod
    async def read(self) -> Delivery:
        """Wait for the next message. Raise ``NotConnected`` when the connection is lost."""

    def read_nowait(self) -> Delivery | None:
        """The next message if it has already arrived, else None; never waits or raises (a
        lost connection shows at the next ``read``). The intake takes what this gives in one
        batch with what ``read`` returned; an inbox that cannot tell returns None."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Close; deliveries not yet acknowledged return to the broker."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for logs and status, never containing credentials."""


class Outlet(abc.ABC):
    """Output side: one peer's inbox.

    ``write`` may be awaited by many tasks at once: implementations pipeline them (publisher
    confirms, MQTT packet ids) rather than doing one round trip per message. ``max_in_flight``
    is the most the core will have outstanding at once.
    """

    max_in_flight: int = 256
    encodings: tuple[str, ...] = ()  # content encodings it can carry beside a message

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection. Raise ``NotConnected`` on failure."""

    @abc.abstractmethod
    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        """Hand one message to the peer's broker; return once the broker has taken it.
        ``encoding`` (one of ``encodings``) travels with it for the receiving inbox.

        Raise ``NotConnected`` if the connection is gone, ``NotAcknowledged`` if the broker
        refused this message. Returning is a hop-by-hop acknowledgement only.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for logs and status, never containing credentials."""


class TransportKind(abc.ABC):
    """What a transport module exports as ``KIND``: its settings model and two factories."""

    name: str
    settings: type[TransportSettings]

    @abc.abstractmethod
    def inbox(self, settings: TransportSettings, hub_id: str) -> Inbox:
        """The inbox of hub ``hub_id`` on the broker that ``settings`` describe."""

    @abc.abstractmethod
    def outlet(self, settings: TransportSettings, peer_id: str, hub_id: str) -> Outlet:
        """An outlet from hub ``hub_id`` to the inbox of ``peer_id`` described by ``settings``."""


class OutletWrapper(Outlet):
    """An outlet that changes what is written (``write``) and passes the rest to ``outlet``:
    the hub stacks the sealing for encryption and the wire encoding over a transport's."""

    def __init__(self, outlet: Outlet) -> None:
        self.outlet = outlet
        self.max_in_flight = outlet.max_in_flight

    async def connect(self) -> None:
        await self.outlet.connect()

    async def close(self) -> None:
        await self.outlet.close()

    def describe(self) -> str:
        return self.outlet.describe()

    def __getattr__(self, name: str):  # what a test or a status page reads of the transport
        return getattr(self.outlet, name)
