"""Waiting: exponential back-off with jitter (reconnects, resends) and bounded event waits."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 0.2  # +-20 %: peers that lost the same link do not come back in lockstep

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 = the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set.

    Uses ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11, ``wait_for``
    can swallow a cancellation that arrives as the awaited event fires, and a task that lost
    its cancellation never stops.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
