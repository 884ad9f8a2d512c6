"""The canonical envelope: the JWS payload of every porthub message (docs/protocol.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import Rejected

VERSION = 1
# \Z, not $: "$" also matches before a final newline, so "baku\n" would pass as a hub id.
HUB_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}\Z")
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
FIELDS = ("version", "id", "type", "from", "to", "created", "expires", "correlation_id",
          "content_type", "body")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
# Exactly what format_time writes. datetime.fromisoformat alone takes many more spellings
# (a bare date, week dates, other precisions) and returns a naive datetime for some of them.
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
# json.dumps with options builds an encoder each call; this one is built once.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def format_time(moment: datetime) -> str:
    """RFC 3339, UTC, millisecond precision: ``2026-11-28T06:51:24.123Z``."""
    # isoformat, not strftime: "%Y" writes the year 1 as "1", not "0001", on glibc
    if moment.tzinfo is not timezone.utc:  # (the hub's own times are UTC already)
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of ``format_time``; ValueError for any other spelling."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise ValueError(f"not an RFC 3339 UTC time with milliseconds: {text!r}")
    return datetime.fromisoformat(text[:-1] + "+00:00")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    sender: str
    to: str
    created: datetime
    expires: datetime
    body: Any
    correlation_id: str | None = None
    content_type: str = "application/json"
    version: int = VERSION
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.id,
            "type": self.type,
            "from": self.sender,
            "to": self.to,
            "created": format_time(self.created),
            "expires": format_time(self.expires),
            "correlation_id": self.correlation_id,
            "content_type": self.content_type,
            "body": self.body,
        }

    def to_bytes(self) -> bytes:
        """The payload bytes that get signed: compact JSON, keys in a fixed order, UTF-8."""
        return _COMPACT.encode(self.to_dict()).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> "Envelope":
        """Parse and check the envelope's shape; raise ``Rejected('malformed')`` otherwise."""
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected("malformed", f"payload is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "Envelope":
        if not isinstance(data, dict):
            raise Rejected("malformed", "payload is not a JSON object")
        missing = [k for k in FIELDS if k not in data]
        if missing:
            raise Rejected("malformed", f"envelope lacks {', '.join(missing)}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise Rejected("malformed", f"envelope has unknown fields {', '.join(unknown)}")
        if type(data["version"]) is not int or data["version"] != VERSION:  # not true, not 1.0
            raise Rejected("malformed", f"unsupported envelope version {data['version']!r}")
        checks = (
            ("id", lambda v: isinstance(v, str) and _UUID.match(v)),
            ("type", lambda v: isinstance(v, str) and TYPE_NAME.match(v)),
            ("from", lambda v: isinstance(v, str) and HUB_ID.match(v)),
            ("to", lambda v: isinstance(v, str) and HUB_ID.match(v)),
            ("correlation_id", lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= 128)),
            ("content_type", lambda v: isinstance(v, str) and 0 < len(v) <= 128),
        )
        for key, ok in checks:
            if not ok(data[key]):
                raise Rejected("malformed", f"envelope field {key!r} is invalid: {data[key]!r}")
        try:
            created, expires = parse_time(data["created"]), parse_time(data["expires"])
        except (ValueError, TypeError) as exc:
            raise Rejected("malformed", f"envelope time is invalid: {exc}") from None
        if expires <= created:
            raise Rejected("malformed", "envelope expires before it was created")
        return cls(
            id=data["id"], type=data["type"], sender=data["from"], to=data["to"],
            created=created, expires=expires, body=data["body"],
            correlation_id=data["correlation_id"], content_type=data["content_type"],
        )
