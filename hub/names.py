"""Answering a wrong name with the closest right one ("Did you mean ...?")."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(name: str, known: Iterable[str], what: str = "Known") -> str:
    """`` Did you mean 'x'?`` for the closest known name, else `` Known: a, b.`` (or nothing
    when there is nothing known); ready to append to an error sentence."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f" Did you mean {close[0]!r}?"
    return f" {what}: {', '.join(known)}." if known else ""
