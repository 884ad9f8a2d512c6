"""Codecs at an adapter's edge: the bytes a legacy system emits, as the submissions they stand
for (decoders), and inbound messages as the bytes it reads (``Encoder``).

A decoder is ``decode(data: bytes) -> list[Submission]`` and raises ``InvalidSubmission`` with
a sentence the operator can act on. ``envelope-json`` is the one of this module; every codec of
``adapters.codecs`` (EDIFACT, national XML, CIM/SMGS) is a decoder too, under its own name, and
``edifact`` picks the codec by each interchange's UNH message type: an adapter's ``format``
setting picks one. Codec output carries no recipient, so the hub's routes decide where those
messages go. ``CodecSettings`` is the one declaration of ``format``, ``cuscar`` and ``encode``
that the channels share.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any, Callable, Mapping

from pydantic import BaseModel, Field, field_validator, model_validator

from hub import jsontext
from hub.envelope import Envelope
from hub.errors import PermanentError
from hub.names import did_you_mean

from .submission import InvalidSubmission, Submission, parse_submission

Decoder = Callable[[bytes], list[Submission]]

EDIFACT = "edifact"
CUSCAR_CODECS = ("cuscar-manifest", "cuscar-pre-arrival")
# format: edifact -- the codec for each UNH message type (CUSCAR: the cuscar setting)
BY_MESSAGE_TYPE = {"BAPLIE": "baplie", "COARRI": "coarri", "COPRAR": "coprar",
                   "CODECO": "codeco", "IFTSTA": "iftsta"}
# How a written document is named and labelled: (file extension, media type). EDIFACT
# (RFC 1767) unless listed; canonical JSON when no codec writes it.
JSON_FORM = ("json", "application/json")
EDIFACT_FORM = ("edi", "application/EDIFACT")
FORMS = {"smgs-xml": ("xml", "application/xml"), "customs-decision-xml": ("xml", "application/xml"),
         "customs-decision-json": ("json", "application/json")}


def decode_envelope_json(data: bytes) -> list[Submission]:
    """One UTF-8 JSON object: ``{"type", "to"?, "correlation_id"?, "ttl"?, "body"}``."""
    try:
        document = jsontext.loads(data)
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"not UTF-8 text: byte {exc.start} is invalid") from None
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                f"column {exc.colno}") from None
    except ValueError as exc:  # NaN, a duplicate member, a lone surrogate, too deep
        raise InvalidSubmission(f"not valid JSON: {exc}") from None
    return [parse_submission(document)]


DECODERS: dict[str, Decoder] = {"envelope-json": decode_envelope_json}


def decoder(name: str, *, cuscar: str = CUSCAR_CODECS[0]) -> Decoder:
    """The decoder called ``name``; ValueError (a config error) with the closest name.
    ``cuscar`` is the codec ``edifact`` reads a CUSCAR with."""
    if name in DECODERS:
        return _not_empty(DECODERS[name])
    from .. import codecs as domain  # imported on first use, like the codecs themselves

    if name == EDIFACT:
        return _not_empty(_by_message_type({**BY_MESSAGE_TYPE, "CUSCAR": cuscar}))
    try:
        return _not_empty(_codec_decoder(domain.get(name)))
    except LookupError:
        known = [*DECODERS, EDIFACT, *domain.names()]
        raise ValueError(f"format {name!r} is not known.{did_you_mean(name, known)}") from None


def _not_empty(decode: Decoder) -> Decoder:
    """Every channel refuses input that decodes to no message at all, in one place."""

    def checked(data: bytes) -> list[Submission]:
        submissions = decode(data)
        if not submissions:
            raise InvalidSubmission("the document holds no message")
        return submissions

    return checked


def _codec_decoder(codec: Any) -> Decoder:
    from ..codecs import CodecError

    def decode(data: bytes) -> list[Submission]:
        try:
            items = codec.decode(data)
        except CodecError as exc:
            raise InvalidSubmission(str(exc)) from None
        return [Submission(type=i.type, body=i.body, correlation_id=i.correlation_id)
                for i in items]

    return decode


def _by_message_type(codecs: dict[str, str]) -> Decoder:
    """``format: edifact``: one folder or endpoint for every EDIFACT message the local system
    sends; each interchange is read by the codec of its UNH message type."""
    from ..codecs import CodecError, edifact, get

    def decode(data: bytes) -> list[Submission]:
        try:
            messages = edifact.parse(data).messages
        except CodecError as exc:
            raise InvalidSubmission(str(exc)) from None
        for message in messages:
            if message.type not in codecs:
                raise InvalidSubmission(
                    f"{message.header.where(1)}: message type {message.type!r} is not read "
                    f"by format edifact, which reads {', '.join(sorted(codecs))}.")
        kinds = list(dict.fromkeys(m.type for m in messages))
        if len(kinds) > 1:
            raise InvalidSubmission(f"The interchange mixes {' and '.join(kinds)} messages; "
                                    "format edifact reads one message type per interchange.")
        return _codec_decoder(get(codecs[kinds[0]]))(data)

    return decode


class Encoder:
    """Inbound messages as the local system reads them: the codec of the first ``rules``
    pattern that matches the type, else the canonical JSON of the envelope."""

    def __init__(self, rules: Mapping[str, str]) -> None:
        self.rules = list(rules.items())

    def codec_for(self, type_name: str) -> str | None:
        return next((codec for pattern, codec in self.rules if fnmatchcase(type_name, pattern)),
                    None)

    def form(self, type_name: str) -> tuple[str, str]:
        """(file extension, media type) of what ``encode`` writes for ``type_name``."""
        codec = self.codec_for(type_name)
        return JSON_FORM if codec is None else FORMS.get(codec, EDIFACT_FORM)

    def encode(self, envelope: Envelope) -> bytes:
        """The bytes for the local system; ``PermanentError`` with the codec's sentence when
        the body cannot be written (the same body would fail the same way again)."""
        name = self.codec_for(envelope.type)
        if name is None:
            return envelope.to_bytes()
        from ..codecs import CodecError, get

        try:
            return get(name).encode(envelope.type, envelope.body, context_of(envelope))
        except CodecError as exc:
            raise PermanentError(f"{envelope.type} {envelope.id} cannot be written as "
                                 f"{name}: {exc}") from None


CANONICAL = Encoder({})  # every message as its canonical JSON


def context_of(envelope: Envelope) -> Any:
    """The codec context of an inbound message, all from its envelope, so that a repeated
    delivery writes the same bytes: the hubs as interchange sender and recipient, a control
    reference from the message id (the last 14 hex digits of the UUIDv7, its random part),
    the time it was created and its correlation (the shipment)."""
    from ..codecs import Context

    return Context(sender=envelope.sender.upper(), recipient=envelope.to.upper(),
                   reference=envelope.id.replace("-", "")[-14:].upper(),
                   prepared=envelope.created, correlation_id=envelope.correlation_id)


def check_rules(rules: Mapping[str, str]) -> None:
    """ValueError unless every canonical type a rule catches first can be written by its codec
    (so a configuration cannot dead-letter every message of a type by mistake)."""
    from hub.schema import RECEIPT, schemas

    from .. import codecs as domain

    types = [t for t in schemas().types if t != RECEIPT]
    encoder = Encoder(rules)
    for pattern, name in rules.items():
        try:
            codec = domain.get(name)
        except LookupError as exc:
            raise ValueError(f"encode: {pattern}: {exc}") from None
        caught = [t for t in types if fnmatchcase(t, pattern)]
        if not caught:
            raise ValueError(f"encode: {pattern!r} matches no message type."
                             f"{did_you_mean(pattern, types, 'Known types')}")
        for type_name in caught:
            if encoder.codec_for(type_name) == name and type_name not in codec.types:
                raise ValueError(f"encode: {pattern!r} matches {type_name}, which the {name} "
                                 f"codec cannot write (it writes {', '.join(codec.types)})")


class CodecSettings(BaseModel):
    """The codec settings of a channel: how the local system's documents become messages and
    how inbound messages are written for it."""

    format: str = Field(
        "envelope-json",
        description="how the local system's documents become messages: envelope-json is one "
                    "JSON object {type, to, correlation_id, ttl, body}; a codec name (baplie, "
                    "coarri, codeco, cuscar-manifest, iftsta, smgs-xml, ...) reads that format, "
                    "edifact reads each EDIFACT interchange by its message type, and the hub's "
                    "routes pick the recipients")
    cuscar: str = Field(CUSCAR_CODECS[0],
                        description="with format: edifact, what a CUSCAR becomes: "
                                    "cuscar-manifest (cargo.manifest) or cuscar-pre-arrival "
                                    "(customs.pre_arrival)",
                        json_schema_extra={"sample": "commented"})
    encode: dict[str, str] = Field(
        {}, description="how inbound messages are written for the local system: type "
                        "pattern -> codec, the first matching pattern wins, e.g. "
                        "{customs.decision: customs-decision-xml}; types not matched are "
                        "canonical JSON")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        decoder(value)
        return value

    @field_validator("cuscar")
    @classmethod
    def _cuscar(cls, value: str) -> str:
        if value not in CUSCAR_CODECS:
            raise ValueError(f"cuscar must be {' or '.join(CUSCAR_CODECS)}, got {value!r}")
        return value

    @field_validator("encode")
    @classmethod
    def _rules(cls, value: dict[str, str]) -> dict[str, str]:
        check_rules(value)
        return value

    @model_validator(mode="after")
    def _cuscar_with_edifact(self) -> "CodecSettings":
        if "cuscar" in self.model_fields_set and self.format != EDIFACT:
            raise ValueError(f"cuscar is only used with format: edifact (format is "
                             f"{self.format}; format: {self.cuscar} reads CUSCAR alone)")
        return self

    def decoder(self) -> Decoder:
        return decoder(self.format, cuscar=self.cuscar)

    def encoder(self) -> Encoder:
        return Encoder(self.encode)
