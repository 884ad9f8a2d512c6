"""Decoders: the bytes a legacy system emits, as the submissions they stand for.

A decoder is ``decode(data: bytes) -> list[Submission]`` and raises ``InvalidSubmission`` with
a sentence the operator can act on. ``envelope-json`` is the built-in one; the customs, rail and
terminal codecs (EDIFACT, national XML, CIM/SMGS) register here under their own names and are
picked with an adapter's ``format`` setting.
"""

from __future__ import annotations

import json
from typing import Callable

from .submission import InvalidSubmission, Submission, parse_submission

Decoder = Callable[[bytes], list[Submission]]


def decode_envelope_json(data: bytes) -> list[Submission]:
    """One UTF-8 JSON object: ``{"type", "to"?, "correlation_id"?, "ttl"?, "body"}``."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"not UTF-8 text: byte {exc.start} is invalid") from None
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                f"column {exc.colno}") from None
    return [parse_submission(document)]


DECODERS: dict[str, Decoder] = {"envelope-json": decode_envelope_json}


def decoder(name: str) -> Decoder:
    """The decoder registered as ``name``; ValueError (a config error) naming the known ones."""
    try:
        return DECODERS[name]
    except KeyError:
        raise ValueError(f"format must be one of {', '.join(sorted(DECODERS))}, "
                         f"got {name!r}") from None
