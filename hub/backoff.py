"""Exponential back-off with jitter, for reconnects and resends."""

from __future__ import annotations

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
