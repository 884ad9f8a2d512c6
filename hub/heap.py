"""The daemon's garbage-collector settings, applied once the hub has started.

A hub allocates thousands of short-lived objects a message (frames, dicts, futures), so
CPython's cyclic collector, left at its defaults, runs a young-generation pass every 700
allocations and now and then walks every object the process holds: under load about 25 µs of
CPU a message in each hub's process, and the full passes stopped the event loop for up to
55 ms (docs/performance.md, change 15). ``settle`` does what long-running CPython services
commonly do:

* ``gc.freeze()``: what start-up made (modules, schemas, configuration, certificates) lives
  as long as the process; frozen, no collection walks it again;
* young objects are collected every ``YOUNG`` allocations instead of 700: a few MB at most
  wait a little longer, and most objects, freed by reference counting, never reach a pass.

Reference cycles are still collected; only less often. What start-up made and later becomes
garbage only through a cycle (the first configuration once SIGHUP replaced it, the first
broker connections once replaced) is never collected: a cost paid once, at most what start-up
made; reference counting still frees the rest of it.
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
