"""Chaos scenarios 5 and 6 of the reliability promise (docs/reliability.md): the brokers
themselves freeze and die. Over MQTT each hub has its private Mosquitto; over AMQP both hubs
share a private RabbitMQ node (tests/support/rabbitnode.py), so that SIGSTOP and SIGKILL
strike a broker no other test run uses."""

from __future__ import annotations

import time

import pytest

from tests.chaos import faults
from tests.chaos.conftest import (HEARTBEAT, ChaosNet, assert_exactly_once, record,
                                  settle_timeout, sizes)

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.mosquitto]


# Long enough that a client must notice: paho gives up after 1.5 keep-alives without an
# answer; pika looks for received bytes once every heartbeat + 5 s, so only a silence as long
# as two of its windows is sure to hold one whole (a shorter freeze may pass unnoticed, and
# the connection simply goes on).
FROZEN = {"mqtt": 3 * HEARTBEAT + 1, "amqp": 2 * (HEARTBEAT + 5) + 1}


@pytest.fixture
def chaos_private_rabbit() -> bool:
    return True


def test_frozen_broker_and_hub_are_detected(net: ChaosNet) -> None:
    """5. Given steady traffic, when baku's broker freezes past the heartbeat timeout
    (SIGSTOP of its Mosquitto, or of the RabbitMQ node) while aktau itself is SIGSTOPped past
    it too, then both continue: the hubs notice (their logs say so), reconnect, and nothing is
    lost."""
    began = time.monotonic()
    net.start()
    total, frozen = sizes(100, 3000), FROZEN[net.transport]
    feeder = net.submit_in_background(total, per_second=sizes(15, 30))
    time.sleep(2)
    if net.transport == "mqtt":
        freeze = faults.pause(faults.broker_pid(net.brokers["baku"]), frozen)
    else:
        freeze = faults.pause_rabbit_node(net.rabbit, frozen)
    with faults.Injector({"freeze broker": freeze}, (0.0, 0.0), 1):
        time.sleep(1)
        faults.pause(faults.hub_pid(net.sender), frozen)()
    feeder.join(total / 5)
    report = net.wait_settled(settle_timeout(net))
    assert_exactly_once(report)
    said = {name: [line.get("msg", "") for line in hub.log()] for name, hub in net.hubs.items()}
    assert any(m.startswith("link to baku down") for m in said["aktau"]), said["aktau"]
    assert any(m.startswith("inbox disconnected") for m in said["baku"]), said["baku"]
    record("5 frozen broker and hub", net.transport, report, time.monotonic() - began,
           frozen_s=frozen)


@pytest.mark.slow
def test_brokers_killed_mid_stream(net: ChaosNet) -> None:
    """6. Given steady traffic, when each broker is SIGKILLed mid-stream and comes back on its
    persistence (each hub's Mosquitto, or the RabbitMQ node of both): nothing lost."""
    began = time.monotonic()
    net.start()
    total = sizes(100, 3000)
    if net.transport == "mqtt":
        broken = {f"kill mosquitto {h}": faults.restart_mosquitto(b)
                  for h, b in net.brokers.items()}
        restarts = sizes(2, 10)
    else:  # one broker for both hubs, and slower to boot
        broken = {"kill rabbitmq": faults.restart_rabbit_node(net.rabbit)}
        restarts = sizes(1, 5)
    feeder = net.submit_in_background(total, per_second=sizes(25, 30))
    with faults.Injector(broken, (1.5, 3.0), restarts) as chaos:
        feeder.join(total / 5)
        chaos.wait(restarts * 90)
    report = net.wait_settled(settle_timeout(net))
    assert_exactly_once(report)
    record("6 brokers killed", net.transport, report, time.monotonic() - began,
           restarts=len(chaos.done))
