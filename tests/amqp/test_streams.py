"""Hubs exchanging thousands of messages through RabbitMQ, each port's inbox in its own vhost:
everything receipted, everything handed over exactly once."""

from __future__ import annotations

import pytest

from tests.amqp.conftest import Ports
from tests.amqp.traffic import RETRY, assert_exactly_once, exchange
from tests.support.aio import run
from tests.support.network import Network

pytestmark = pytest.mark.rabbitmq


@pytest.mark.parametrize(("hub_ids", "per_stream"), [
    (["aktau", "baku"], 2000),
    (["aktau", "baku", "samsun"], 500),
], ids=["two hubs, 2000 each way", "three hubs, 500 to each other"])
def test_hubs_exchange_thousands_of_messages(tmp_path, ports: Ports, hub_ids: list[str],
                                             per_stream: int) -> None:
    """Given hubs with AMQP inboxes in their own vhosts, when every hub sends every other
    ``per_stream`` messages at once (4,000 or 3,000 in all), every message is receipted at its
    sender and handed over exactly once at its recipient."""
    net = Network(tmp_path, hub_ids, inbox_for=ports.inbox_for(), extra={"retry": RETRY})

    async def scenario() -> None:
        await net.start()
        try:
            streams = await exchange(net, per_stream, timeout=120)
            assert_exactly_once(net, streams)
        finally:
            await net.stop()

    run(scenario(), timeout=150)
