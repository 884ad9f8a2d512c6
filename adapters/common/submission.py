"""What an adapter hands to ``HubHandle.submit``, read from the shape every built-in adapter
accepts: ``{"type", "body", "to", "correlation_id", "ttl"}`` (a file, an HTTP request body, an
outbox row). One parser, so the three say the same thing about the same mistake."""

from __future__ import annotations

import math
from typing import Any, Mapping

from hub.adapter import SubmitRequest
from hub.errors import PermanentError

FIELDS = ("type", "body", "to", "correlation_id", "ttl")


class InvalidSubmission(PermanentError):
    """The content cannot become a message; ``str()`` is one sentence naming the field."""


# One message to submit, as the hub takes it; the idempotency key is the adapter's to add
# (``dataclasses.replace``), from where the content came from.
Submission = SubmitRequest


def parse_submission(data: Any, *, allowed: tuple[str, ...] = FIELDS) -> Submission:
    """A ``Submission`` from a decoded JSON object (or a database row as a mapping).

    ``allowed`` narrows the fields a source may give (a row has no ``ttl`` column, say).
    The body itself is checked by the hub against the type's schema on submit."""
    if not isinstance(data, Mapping):
        raise InvalidSubmission(f"expected a JSON object with type and body, "
                                f"got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidSubmission(f"unknown field {unknown[0]!r} (known: {', '.join(allowed)})")
    kind = data.get("type")
    if kind is None or kind == "":
        raise InvalidSubmission("type is missing")
    if not isinstance(kind, str):
        raise InvalidSubmission(f"type must be a string, got {kind!r}")
    if "body" not in data or data["body"] is None:
        raise InvalidSubmission("body is missing")
    to = data.get("to")
    if not (to is None or isinstance(to, str) or
            (isinstance(to, list) and to and all(isinstance(t, str) for t in to))):
        raise InvalidSubmission(f"to must be a hub id, a list of hub ids or 'all', got {to!r}")
    correlation_id = data.get("correlation_id")
    if correlation_id is not None and not (isinstance(correlation_id, str)
                                           and 0 < len(correlation_id) <= 128):
        raise InvalidSubmission("correlation_id must be a string of 1 to 128 characters, "
                                f"got {correlation_id!r}")
    ttl = data.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                            or not math.isfinite(ttl) or ttl <= 0):
        raise InvalidSubmission(f"ttl must be a positive number of seconds, got {ttl!r}")
    return Submission(type=kind, body=data["body"], to=to, correlation_id=correlation_id,
                      ttl=None if ttl is None else float(ttl))
