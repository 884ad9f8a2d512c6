"""Codecs: what the port's systems write (UN/EDIFACT, XML, JSON) to canonical messages and
back.

A codec is an object with ``decode(data) -> list[Decoded]`` (one file or request body may
hold several messages) and ``encode(type, body, context) -> bytes``. Decoding checks every
body against its JSON Schema, so what a codec returns can be submitted as it is; anything
wrong raises ``CodecError`` with a sentence that names the segment or element at fault.
Codecs are looked up by name with ``get``; the domain adapters pick one from their config.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from hub.names import did_you_mean


class CodecError(ValueError):
    """Input that a codec cannot turn into a valid message, or a body it cannot write.

    Permanent: the same bytes will fail the same way, so the file or request is refused."""


@dataclass(frozen=True)
class Decoded:
    """One canonical message read from the input."""

    type: str
    body: dict[str, Any]
    correlation_id: str | None = None  # the shipment (bill of lading) where the input says


@dataclass(frozen=True)
class Context:
    """What an encoder needs beyond the body: the interchange envelope and the shipment.

    ``reference`` is the interchange control reference (at most 14 characters); without it
    one is made from ``prepared``. ``prepared`` defaults to now (UTC)."""

    sender: str = "PORTHUB"
    recipient: str = "PARTNER"
    reference: str | None = None
    prepared: datetime | None = None
    correlation_id: str | None = None
    separators: str = ":+.? '"
    line_breaks: bool = True


class Codec(Protocol):
    name: str
    types: tuple[str, ...]  # the canonical types it reads and writes

    def decode(self, data: bytes) -> list[Decoded]: ...

    def encode(self, type: str, body: dict[str, Any], context: Context) -> bytes: ...


def check_body(type_name: str, body: Any, where: str | None = None) -> None:
    """Raise ``CodecError`` unless ``body`` is valid for ``type_name``: ``where`` names the
    input it was read from, without it the body is one to be written."""
    from hub.schema import schemas

    error = schemas().errors(type_name, body)
    if error is None:
        return
    if where is None:
        raise CodecError(f"The {type_name} body cannot be written: {error}.")
    raise CodecError(f"{where}: the {type_name} read from it is not valid: {error}.")


def put(body: dict[str, Any], key: str, value: Any) -> None:
    """Set an optional field only when there is a value."""
    if value not in (None, ""):
        body[key] = value


# name -> "module:attribute", imported on first use so one codec's import cannot break others
_REGISTRY = {
    "baplie": "baplie:BAPLIE",
    "coarri": "coarri:COARRI",
    "coprar": "coarri:COPRAR",
    "codeco": "codeco:CODECO",
    "cuscar-manifest": "cuscar:CUSCAR_MANIFEST",
    "cuscar-pre-arrival": "cuscar:CUSCAR_PRE_ARRIVAL",
    "iftsta": "iftsta:IFTSTA",
    "smgs-xml": "smgs_xml:SMGS_XML",
    "customs-decision-xml": "customs_decision:CUSTOMS_DECISION_XML",
    "customs-decision-json": "customs_decision:CUSTOMS_DECISION_JSON",
}


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Codec:
    """The codec registered as ``name``; an unknown name is a ``LookupError`` with a hint."""
    target = _REGISTRY.get(name)
    if target is None:
        raise LookupError(f"No such codec: {name!r}.{did_you_mean(name, _REGISTRY)}")
    module, attribute = target.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
