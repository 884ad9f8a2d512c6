"""The envelope's shape is checked strictly: what a receiver acts on is exactly what was
signed, spelled as docs/protocol.md §2 says (regressions found by tests/fuzz)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.envelope import Envelope, format_time, parse_time
from hub.errors import Rejected

NOW = datetime(2026, 11, 28, 6, 51, 24, 123000, tzinfo=timezone.utc)
VALID = {"version": 1, "id": "019ac9a1-7d3e-7c41-9a52-3f0e6b1d2c4a", "type": "shipment.status",
         "from": "aktau", "to": "baku", "created": "2026-11-28T06:51:24.123Z",
         "expires": "2026-11-29T06:51:24.123Z", "correlation_id": None,
         "content_type": "application/json", "body": {}}


def test_the_documented_envelope_parses_and_is_written_back_the_same():
    envelope = Envelope.from_dict(VALID)
    assert envelope.to_dict() == VALID
    assert envelope.created == NOW and envelope.created.tzinfo is not None


@pytest.mark.parametrize("spelling", [
    "2026-11-28Z",                   # a bare date: fromisoformat made it a naive datetime
    "2026-11-28T06:51:24Z",          # no milliseconds
    "2026-11-28T06:51:24.123456Z",   # microseconds
    "20261128T065124.123Z",          # ISO 8601 basic format
    "2026-W48-6T06:51:24.123Z",      # a week date
    "2026-11-28 06:51:24.123Z",      # a space for the T
    "2026-11-28T06:51:24,123Z",      # a decimal comma
    "2026-11-28T06:51:24.123Z\n",
    "2026-11-28t06:51:24.123z",
])
def test_a_time_in_any_other_spelling_is_malformed_not_a_crash(spelling):
    """Given a created time that datetime.fromisoformat reads but porthub does not write,
    the envelope is malformed. ("2026-11-28Z" used to end in a TypeError comparing a naive
    with an aware datetime, before the signature was even checked.)"""
    for member in ("created", "expires"):
        with pytest.raises(Rejected) as refused:
            Envelope.from_dict({**VALID, member: spelling})
        assert refused.value.reason == "malformed"
    with pytest.raises(ValueError):
        parse_time(spelling)


@pytest.mark.parametrize("member", ["id", "type", "from", "to"])
def test_a_trailing_newline_does_not_pass_a_format(member):
    """Given an id, type or hub id with a trailing newline (which a regex "$" lets through),
    the envelope is malformed."""
    with pytest.raises(Rejected) as refused:
        Envelope.from_dict({**VALID, member: VALID[member] + "\n"})
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize("version", [True, 1.0])
def test_the_version_is_the_integer_1_not_something_equal_to_it(version):
    with pytest.raises(Rejected) as refused:
        Envelope.from_dict({**VALID, "version": version})
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize("moment", [NOW, datetime(1, 1, 1, tzinfo=timezone.utc),
                                    datetime(9999, 12, 31, 23, 59, 59, 999999, timezone.utc)])
def test_format_and_parse_are_inverse(moment):
    """Every moment is written in the one spelling (the year 1 was written "1-01-01...")."""
    assert parse_time(format_time(moment)) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000)
