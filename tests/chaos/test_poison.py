"""7. A poison message among good ones: baku's filedrop cannot hand it over (its file name is
taken by a file the local system has not collected, so each attempt fails), the hub retries a
bounded number of times, dead-letters it with the reason, and the good messages keep flowing."""

from __future__ import annotations

import json
import time

import pytest

from tests.chaos.conftest import ChaosNet, assert_exactly_once, dead_letters, record, sizes

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.mosquitto]
ATTEMPTS = 3
UNIQUE = 10**9  # correlation ids: one per message, so one file name each
BLOCKER = "POISON.json"  # the file in baku's outbox that the poison message's name collides with


@pytest.fixture
def chaos_extra() -> dict:
    return {"retry": {"handover_attempts": ATTEMPTS}}


@pytest.fixture
def chaos_filedrop() -> dict:
    return {"file_name": "{correlation_id}.{ext}"}  # one file per correlation id


def test_poison_is_dead_lettered_and_the_rest_flows(net: ChaosNet) -> None:
    began = time.monotonic()
    outbox = net.root / "baku" / "files" / "out"
    (outbox / BLOCKER).write_text(json.dumps({"id": "not-yet-collected"}))
    net.start()
    total = sizes(60, 2000)
    net.submit(total // 2, correlations=UNIQUE)
    net.submit(1, correlation_id="POISON")
    poison = next(reversed(net.submitted))
    net.submit(total - total // 2, correlations=UNIQUE)
    report = net.wait_settled(sizes(60, 300), ignore={BLOCKER})
    assert_exactly_once(report, failed=1)
    reason = report.failed[poison]
    assert f"gave up after {ATTEMPTS} attempts" in reason and BLOCKER in reason, reason
    shown = [r for r in dead_letters(net.recipient) if r["direction"] == "in"]
    assert len(shown) == 1 and shown[0]["attempts"] == ATTEMPTS, shown
    assert json.loads((outbox / BLOCKER).read_text()) == {"id": "not-yet-collected"}
    record("7 poison", net.transport, report, time.monotonic() - began, attempts=ATTEMPTS)
