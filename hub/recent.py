"""Envelopes this hub has just verified and taken into its inbox, kept until they are handed
over, so that the hand-over need not parse again what the receive checks parsed a moment
before (docs/performance.md).

Only a shortcut: what is not here (after a restart, on a retry, or once the bound pushed it
out) is read from the store as before. Bounded by the size of the signed messages, oldest
out first, so a local system that takes nothing cannot make the hub hold its inbox in memory.
The bound is small: a parsed body takes several times its JSON size, and under load the
hand-over takes messages within one or two batches of the intake (64 each).
"""

from __future__ import annotations

from .envelope import Envelope

LIMIT_BYTES = 2 * 1024 * 1024


class RecentEnvelopes:
    def __init__(self, limit_bytes: int = LIMIT_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self._held = 0
        self._envelopes: dict[str, tuple[Envelope, int]] = {}  # in the order they came

    def __len__(self) -> int:
        return len(self._envelopes)

    def keep(self, envelope: Envelope, size: int) -> None:
        """Hold ``envelope`` (its signed message was ``size`` bytes) until ``take``."""
        if size > self.limit_bytes or envelope.id in self._envelopes:
            return
        self._envelopes[envelope.id] = (envelope, size)
        self._held += size
        while self._held > self.limit_bytes:
            _oldest, (_envelope, dropped) = next(iter(self._envelopes.items()))
            del self._envelopes[_oldest]
            self._held -= dropped

    def take(self, message_id: str) -> Envelope | None:
        """The envelope kept for ``message_id``, now forgotten; None if none is kept."""
        found = self._envelopes.pop(message_id, None)
        if found is None:
            return None
        self._held -= found[1]
        return found[0]
