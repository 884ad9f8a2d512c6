"""The broker itself stops and starts again mid-stream (``rabbitmqctl stop_app``/``start_app``).

The broker is shared with other test runs, so it is started again whatever happens."""

from __future__ import annotations

import asyncio

import pytest

from tests.amqp.conftest import Ports
from tests.amqp.traffic import RETRY, assert_exactly_once, exchange
from tests.support.aio import run
from tests.support.network import Network
from tests.support.rabbit import rabbitmqctl

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

STOPPED = 2.0  # seconds the broker stays down


def start_broker() -> None:
    """Start the broker's application (a no-op if it runs) and wait until it serves."""
    rabbitmqctl("start_app")
    rabbitmqctl("await_startup", "--timeout", "60")


def test_broker_stop_and_start_mid_stream(tmp_path, ports: Ports) -> None:
    """Given aktau and baku sending each other 300 messages, when RabbitMQ stops for 2 s
    mid-stream and starts again, both hubs reconnect and every message is receipted and
    handed over exactly once (durable queues, persistent messages, the outbox for the rest)."""
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=ports.inbox_for(heartbeat=2),
                  extra={"retry": {**RETRY, "receipt_timeout": "2s", "maximum": "3s"}})

    async def restart_broker() -> None:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        try:
            await asyncio.sleep(STOPPED)  # the length of the outage
        finally:
            await asyncio.to_thread(start_broker)

    async def scenario() -> None:
        await net.start()
        try:
            streams = await exchange(net, 300, timeout=60, faults=[(0.3, restart_broker)])
            assert_exactly_once(net, streams)
            for hub in net.hubs.values():
                assert hub.intake.connected and all(link.up for link in hub.links.values())
        finally:
            await net.stop()

    try:
        run(scenario(), timeout=90)
    finally:
        start_broker()
