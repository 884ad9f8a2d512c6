"""Decoders: the bytes a legacy system emits, as the submissions they stand for.

A decoder is ``decode(data: bytes) -> list[Submission]`` and raises ``InvalidSubmission`` with
a sentence the operator can act on. ``envelope-json`` is the one of this module; every codec of
``adapters.codecs`` (EDIFACT, national XML, CIM/SMGS) is a decoder too, under its own name:
an adapter's ``format`` setting picks one. Codec output carries no recipient, so the hub's
routes decide where those messages go.
"""

from __future__ import annotations

import json
from typing import Callable

from hub.names import did_you_mean

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
    """The decoder called ``name``; ValueError (a config error) with the closest name."""
    if name in DECODERS:
        return DECODERS[name]
    from .. import codecs as domain  # imported on first use, like the codecs themselves

    try:
        codec = domain.get(name)
    except LookupError:
        known = [*DECODERS, *domain.names()]
        raise ValueError(f"format {name!r} is not known.{did_you_mean(name, known)}") from None

    def decode(data: bytes) -> list[Submission]:
        try:
            items = codec.decode(data)
        except domain.CodecError as exc:
            raise InvalidSubmission(str(exc)) from None
        return [Submission(type=i.type, body=i.body, correlation_id=i.correlation_id)
                for i in items]

    return decode
