"""8. Clocks of two hubs ten minutes apart. The documented policy (docs/protocol.md, the
``clock_skew`` receive check, ``limits.clock_skew``, 5 minutes by default): a message dated
further ahead of the recipient's clock than that is refused with ``clock_skew`` and a negative
receipt, which the sender's outcome file and ``porthub dlq list`` show; within the limit
everything flows, and nothing crashes either way.

aktau's clock is moved with libfaketime (Debian package ``faketime``), for its process only.
"""

from __future__ import annotations

import glob
import time

import pytest

from tests.chaos.conftest import ChaosNet, assert_exactly_once, dead_letters, record, sizes

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.mosquitto]
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"


def skewed(offset: str) -> dict[str, str]:
    """The environment that runs a process ``offset`` (e.g. ``+10m``) from the real clock."""
    found = glob.glob(LIBFAKETIME)
    if not found:
        pytest.fail("libfaketime is not installed (apt-get install faketime); scripts/test "
                    "installs it", pytrace=False)
    # Only the wall clock moves: timers and timeouts keep the real monotonic clock.
    return {"LD_PRELOAD": found[0], "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def test_clocks_ten_minutes_apart(net: ChaosNet) -> None:
    began = time.monotonic()
    net.recipient.start()
    net.sender.start(env=skewed("+10m"))
    for hub in net.hubs.values():
        hub.wait_ready()
        hub.wait_http()  # running: its store has its tables
    total = sizes(10, 1000)
    net.submit(total)
    refused = net.wait_settled(sizes(60, 300))
    assert_exactly_once(refused, failed=total)
    assert {reason for reason in refused.failed.values()} == {"rejected: clock_skew"}
    shown = dead_letters(net.sender)
    assert len(shown) == total and {r["reason"] for r in shown} == {"clock_skew"}, shown[:3]
    assert all(hub.running for hub in net.hubs.values())

    # Within the limit (two minutes ahead) everything flows.
    net.sender.terminate()
    net.sender.start(env=skewed("+2m"))
    net.sender.wait_ready()
    net.submit(total)
    report = net.wait_settled(sizes(60, 300))
    assert_exactly_once(report, failed=total)
    assert report.delivered == total
    record("8 clocks 10 min apart", net.transport, report, time.monotonic() - began,
           refused=len(refused.failed))
