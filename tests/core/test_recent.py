"""Envelopes kept from the receive checks to the hand-over (hub/recent.py), and a hand-over
that finds none kept (a restart, a retry) reading the store instead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.envelope import Envelope
from hub.ids import new_message_id
from hub.recent import RecentEnvelopes

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def _envelope() -> Envelope:
    return Envelope(id=new_message_id(), type="shipment.status", sender="aktau", to="baku",
                    created=NOW, expires=NOW + timedelta(days=1), body={"n": 1})


def test_an_envelope_is_taken_once():
    recent, envelope = RecentEnvelopes(), _envelope()
    recent.keep(envelope, 100)

    assert recent.take(envelope.id) is envelope
    assert recent.take(envelope.id) is None
    assert len(recent) == 0


def test_the_oldest_go_first_when_the_bytes_run_over_the_limit():
    recent = RecentEnvelopes(limit_bytes=1000)
    envelopes = [_envelope() for _ in range(4)]
    for envelope in envelopes:
        recent.keep(envelope, 400)

    assert len(recent) == 2
    assert recent.take(envelopes[0].id) is None and recent.take(envelopes[1].id) is None
    assert recent.take(envelopes[3].id) is envelopes[3]
    recent.keep(envelopes[0], 600)  # room again, now that one was taken
    assert len(recent) == 2


def test_a_message_larger_than_the_limit_is_not_kept_and_keeping_twice_counts_once():
    recent, big, small = RecentEnvelopes(limit_bytes=1000), _envelope(), _envelope()
    recent.keep(big, 1001)
    recent.keep(small, 600)
    recent.keep(small, 600)

    assert recent.take(big.id) is None
    assert recent.take(small.id) is small
    other = _envelope()
    recent.keep(other, 1000)  # nothing of ``small`` is still counted
    assert recent.take(other.id) is other
