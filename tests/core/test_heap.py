"""The daemon's garbage-collector settings (hub/heap.py)."""

from __future__ import annotations

import gc
import weakref

from hub import heap


def test_settle_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    """Given the process as start-up left it, ``settle`` moves every object into the frozen
    generation and raises the young threshold; ``unsettle`` gives both back. A cycle made
    afterwards is still collected."""
    before = gc.get_threshold()
    previous = heap.settle()
    try:
        assert previous == before
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == (heap.YOUNG, heap.OLDER, heap.OLDER)

        class Node:
            pass

        node = Node()
        node.me = node  # a cycle: only the collector frees it
        alive = weakref.ref(node)
        del node
        gc.collect()
        assert alive() is None
    finally:
        heap.unsettle(previous)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
