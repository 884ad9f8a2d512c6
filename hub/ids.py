"""Message ids: UUIDv7 (RFC 9562), time-ordered and unique without coordination."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Random bits are read from the OS in blocks: one getrandom call per id cost more than all
# the rest of making it. A forked child starts with an empty block of its own.
_BLOCK = 4096
_pool = bytearray()


def _forget_pool() -> None:
    _pool.clear()


os.register_at_fork(after_in_child=_forget_pool)


def _random8() -> int:
    if not _pool:
        _pool.extend(os.urandom(_BLOCK))
    value = int.from_bytes(_pool[-8:], "big")
    del _pool[-8:]
    return value


def new_message_id(now_ms: int | None = None) -> str:
    """A new UUIDv7 string; strictly increasing within this process."""
    global _last_ms, _seq
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                _seq = 0
        else:
            _seq = 0
        _last_ms = ms
        rand = _random8() & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _seq << 64 | 0b10 << 62 | rand
        text = f"{value:032x}"  # as str(uuid.UUID(int=value)) writes it, without the object
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
