"""Two hubs exchanging thousands of messages through their own Mosquitto brokers: everything
receipted, everything handed over exactly once."""

from __future__ import annotations

import pytest

from tests.amqp.traffic import RETRY, assert_exactly_once, exchange
from tests.mqtt.conftest import MqttPorts
from tests.support.aio import run
from tests.support.network import Network

pytestmark = pytest.mark.mosquitto

PER_STREAM = 2000


def test_two_hubs_exchange_two_thousand_messages_each_way(tmp_path, mqtt_ports: MqttPorts
                                                          ) -> None:
    """Given aktau and baku, each with its inbox on its own Mosquitto (default settings), when
    each sends the other 2,000 messages at once, every message is receipted and handed over
    exactly once."""
    for port in ("aktau", "baku"):
        mqtt_ports.add(port)
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=mqtt_ports.inbox_for(),
                  extra={"retry": RETRY})

    async def scenario() -> None:
        await net.start()
        try:
            streams = await exchange(net, PER_STREAM, timeout=150)
            assert_exactly_once(net, streams)
        finally:
            await net.stop()

    run(scenario(), timeout=180)
