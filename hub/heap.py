"""The daemon's garbage-collector settings, applied once the hub has started.

A hub allocates thousands of short-lived objects a message (frames, dicts, futures), so
CPython's cyclic collector, left at its defaults, runs a young-generation pass every 700
allocations and now and then walks every object the process holds: under load about 40 µs of
CPU a message for a pair of hubs, and the full passes stop the event loop for some 30 ms each
(docs/performance.md). ``settle`` does what long-running CPython services commonly do:

* ``gc.freeze()``: what start-up made (modules, schemas, configuration, certificates) lives
  as long as the process; frozen, no collection walks it again;
* young objects are collected every ``YOUNG`` allocations instead of 700: a few MB at most
  wait a little longer, and most objects, freed by reference counting, never reach a pass.

Reference cycles are still collected; only less often. A configuration reloaded with SIGHUP
leaves the previous one frozen (a few hundred KB, once per reload).
"""

from __future__ import annotations

import gc

YOUNG = 10_000
OLDER = 20  # young passes per middle-generation pass, and middle per full one


def settle() -> tuple[int, int, int]:
    """Freeze what exists and collect less often; returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
    return previous


def unsettle(previous: tuple[int, int, int]) -> None:
    """Undo ``settle`` (a benchmark inside a longer-lived process, such as the tests')."""
    gc.unfreeze()
    gc.set_threshold(*previous)
