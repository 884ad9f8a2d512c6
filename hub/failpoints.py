"""Fault-injection points, for tests only: make a hub die at one exact point of its work.

The environment variable ``PORTHUB_FAILPOINTS`` arms points by name, as ``name=N`` items
separated by commas: on the N-th time the hub passes point ``name``, the process ends at once
with ``os._exit(137)`` -- no cleanup, no flush, no close, as if it had been killed with SIGKILL
at exactly that point (137 is the status a shell reports for SIGKILL). The variable is read
once, when this module is imported. Unset (always, in production), ``hit`` does nothing.

Points:

* ``after_inbox_commit``: inbound messages are committed to the store (or found to be
  duplicates), and neither their broker acknowledgements nor their receipt have been sent.
  It is passed once per message of the commit: armed with N, the hub ends after the commit
  that holds the N-th message.
* ``after_intake_commit``: filedrop submitted a batch of files and their messages are
  committed to the outbox, and no outcome file is written, no file moved out of processing/.
"""

from __future__ import annotations

import os

ENV = "PORTHUB_FAILPOINTS"
KILLED = 137


def _parse(text: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{ENV}: {item!r} is not name=N with N a whole number from 1")
        armed[name] = int(count)
    return armed


_armed = _parse(os.environ.get(ENV, ""))
_hits: dict[str, int] = {}


def hit(name: str) -> None:
    """Pass point ``name``; end the process here if this is the armed N-th pass."""
    if name not in _armed:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _armed[name]:
        os._exit(KILLED)
