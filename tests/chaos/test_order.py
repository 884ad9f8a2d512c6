"""Chaos scenario 3 of the reliability promise (docs/reliability.md), over AMQP and MQTT: an
outage in which the brokers keep everything, and the order of each correlation id's messages
after it (docs/reliability.md, *Order per correlation id*)."""

from __future__ import annotations

import json
import time

import pytest

from hub.security import jws
from tests.chaos import faults
from tests.chaos.conftest import ChaosNet, assert_exactly_once, record, settle_timeout, sizes
from tests.support.hubproc import store_query

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.mosquitto]


@pytest.fixture
def chaos_mosquitto() -> list[str]:
    """The queue limits of docs/mosquitto.md's configuration. With Mosquitto's own (1,000
    messages per client) the backlog and its resends overflow baku's queue as the outage
    heals; Mosquitto drops what is over, silently, and the resent copies arrive after later
    messages: exactly once still, but not in order (the long run showed it)."""
    return ["max_queued_messages 100000", "max_queued_bytes 1073741824"]


def test_blackholed_link_drains_in_order(net: ChaosNet) -> None:
    """3. Given steady traffic both ways, when baku's broker link carries nothing for a while
    (minutes in the long run): nothing is dropped, the backlog drains once it heals, and baku
    receives each correlation id's messages in the order they were submitted (with receipts
    for its own messages among them in its inbox)."""
    began = time.monotonic()
    net.start()
    total, outage = sizes(100, 3000), sizes(5.0, 180.0)
    feeder = net.submit_in_background(total, per_second=total / (outage + 4))
    answers = net.answer_in_background(total // 2, per_second=total / 2 / (outage + 4))
    time.sleep(2)
    faults.blackhole(net.proxies["baku"], outage)()
    feeder.join(outage + 30)
    answers.join(outage + 30)
    report = net.wait_settled(settle_timeout(net))
    assert_exactly_once(report)
    arrival = [json.loads(jws.parse(raw).payload)["body"]["note"] for (raw,) in store_query(
        net.recipient.db, "SELECT jws FROM messages WHERE direction = 'in' ORDER BY rowid")]
    for correlation, markers in net.order.items():
        seen = [m for m in arrival if m in set(markers)]
        assert seen == markers, f"{correlation} arrived out of order"
    record("3 blackhole", net.transport, report, time.monotonic() - began, outage_s=outage)
