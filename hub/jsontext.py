"""JSON as porthub reads it from anyone else: a peer's message, a legacy system's file, a row.

Python's ``json`` accepts more than JSON text that can be signed and passed on: ``NaN`` and
``Infinity``, duplicate member names (the last one wins, silently), escaped lone surrogates
(``"\\ud800"``: valid JSON, but not Unicode text, so neither SQLite nor any UTF-8 writer takes
it) and nesting deep enough to exhaust the interpreter's stack (``RecursionError``, not a
``ValueError``). ``loads`` refuses all of them with a ``ValueError``; a syntax error stays a
``json.JSONDecodeError`` with its line and column. ``problem`` finds the same faults in a
value that was built, not parsed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        names = [name for name, _ in pairs]
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"duplicate member {dup!r}")
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def loads(data: bytes | str) -> Any:
    """Strict UTF-8 JSON; ``UnicodeDecodeError`` or ``ValueError`` naming the fault."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):
        fault = problem(value)
        if fault:
            raise ValueError(fault)
    return value


def problem(value: Any) -> str | None:
    """None if ``value`` is JSON text porthub can sign, else what is wrong with it."""
    pending = [value]
    while pending:  # no recursion: the value may be nested as deep as a parser allowed
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"a lone surrogate in {item[:40]!r} is not Unicode text"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item} is not a JSON number"
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return "a JSON object's member names are strings"
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif not (item is None or isinstance(item, (bool, int))):
            return f"a {type(item).__name__} is not a JSON value"
    return None
