"""What happens to messages, as events that observers (metrics, logs, the demo) watch.

The hub emits an ``Event`` at every step of a message's life; an observer is any object with
an ``on_event(event)`` method. A failing observer is logged with what failed and never stops
the hub.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

# The event kinds, part of the interface (metrics and logs are keyed on them).
SUBMITTED = "submitted"      # queued in the outbox
SENT = "sent"                # a broker took it (first write)
RETRIED = "retried"          # written again: no receipt in time, or the broker refused it
DELIVERED = "delivered"      # the recipient's accepting receipt arrived
REJECTED = "rejected"        # the recipient's negative receipt arrived
EXPIRED = "expired"          # expired in the outbox without a receipt
RECEIVED = "received"        # a peer's message passed every check and is in the inbox
DUPLICATE = "duplicate"      # a message already in the inbox came again: original receipt resent
REFUSED = "refused"          # an inbound message failed a receive check (reason set)
HANDED_OVER = "handed_over"  # given to a local system
DEAD_LETTERED = "dead_lettered"  # a local system refused it for good
LINK_UP = "link_up"
LINK_DOWN = "link_down"


@dataclass(frozen=True)
class Event:
    kind: str
    hub: str
    at: float
    message_id: str | None = None
    peer: str | None = None
    type: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    detail: dict = field(default_factory=dict)


class Observer(Protocol):
    def on_event(self, event: Event) -> None: ...


class Emitter:
    """Fans events out to observers."""

    def __init__(self) -> None:
        self.observers: list[Observer] = []

    def emit(self, event: Event) -> None:
        for observer in self.observers:
            try:
                observer.on_event(event)
            except Exception:  # noqa: BLE001 - an observer must not break the hub
                log.exception("observer %r failed on %s event", observer, event.kind)
