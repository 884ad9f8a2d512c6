"""Checks of the identifiers that canonical messages carry: ISO 6346 container numbers, IMO
ship numbers and UN/LOCODEs."""

from __future__ import annotations

import functools
import re

_CONTAINER = re.compile(r"^[A-Z]{3}[UJZ][0-9]{7}\Z")  # \Z: "$" passes a final newline
_IMO = re.compile(r"^(?:IMO)?([0-9]{7})\Z")
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}\Z")


def _letter_value(ch: str) -> int:
    # A=10, then skipping every multiple of 11 (11, 22, 33): B=12 ... K=21, L=23 ... U=32, V=34
    value = 10 + ord(ch) - ord("A")
    return value + (value - 1) // 10 if value > 10 else value


# Each character's value times its weight 2**position, looked up (a manifest may name
# thousands of containers, each checked on submit and again on receive).
_WEIGHTED = tuple({**{chr(c): _letter_value(chr(c)) << i for c in range(ord("A"), ord("Z") + 1)},
                   **{str(d): d << i for d in range(10)}} for i in range(10))


def is_container_number(text: object) -> bool:
    """ISO 6346: owner code, category U/J/Z, serial, and a valid check digit."""
    return isinstance(text, str) and _container_number(text)


@functools.lru_cache(maxsize=16_384)  # the same containers come again and again
def _container_number(text: str) -> bool:
    if not _CONTAINER.match(text):
        return False
    total = sum(weighted[c] for weighted, c in zip(_WEIGHTED, text))
    return total % 11 % 10 == int(text[10])


def is_imo_number(text: object) -> bool:
    """IMO ship identification number: 7 digits, the last a weighted check digit."""
    match = _IMO.match(text) if isinstance(text, str) else None
    if not match:
        return False
    digits = [int(d) for d in match.group(1)]
    return sum(d * (7 - i) for i, d in enumerate(digits[:6])) % 10 == digits[6]


def is_unlocode(text: object) -> bool:
    """UN/LOCODE format: ISO 3166 country code and a three-character location code."""
    return isinstance(text, str) and bool(_LOCODE.match(text))
