"""Network and broker faults in the middle of a two-way stream between hubs.

Every connection (each hub's inbox, each outlet to a peer) goes through one fault-injecting
TCP proxy. Pass: nothing lost, nothing handed over twice, every message receipted.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.amqp.conftest import Ports
from tests.amqp.traffic import RETRY, Fault, assert_exactly_once, exchange
from tests.support.aio import run
from tests.support.netfaults import proxy_faults
from tests.support.network import Network
from tests.support.rabbit import close_all_connections
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.rabbitmq

PER_STREAM = 300
# A silent link is noticed by the write timeout (outlets) or the 2 s heartbeat (inboxes).
FAULT_RETRY = {**RETRY, "receipt_timeout": "2s", "maximum": "3s", "write_timeout": "2s"}
BLACKHOLE = 3.0  # seconds the network carries nothing
REFUSING = 2.0  # seconds the broker's port resets new connections


def faults(kind: str, proxy: TcpProxy, ports: Ports) -> list[tuple[float, Fault]]:
    """What to do to the running network, and at which fraction of the stream: the proxy
    faults every transport is tested with, and the broker closing every connection."""
    if kind != "broker_closes":
        return proxy_faults(kind, proxy, blackhole=BLACKHOLE, refusing=REFUSING)

    async def broker_closes() -> None:
        # rabbitmqctl blocks for about a second: run it beside the loop, as an operator would.
        await asyncio.gather(*(asyncio.to_thread(close_all_connections, vhost)
                               for vhost in ports.vhosts.values()))

    return [(0.25, broker_closes), (0.6, broker_closes)]


@pytest.mark.parametrize("kind", ["cut", "blackhole", "reset", "broker_closes"])
def test_fault_mid_stream_loses_and_duplicates_nothing(tmp_path, ports: Ports, proxy: TcpProxy,
                                                       kind: str) -> None:
    """Given aktau and baku sending each other 300 messages through the proxy, when the
    network is cut three times (RST), blackholed for 3 s, reset and refused for 2 s, or the
    broker closes every connection twice, mid-stream, every message is receipted and handed
    over exactly once, and the hubs did have to reconnect."""
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=ports.inbox_for(
        via=proxy, heartbeat=2, connect_timeout=2), extra={"retry": FAULT_RETRY})

    async def scenario() -> None:
        await net.start()
        try:
            connections = proxy.accepted
            streams = await exchange(net, PER_STREAM, timeout=60,
                                     faults=faults(kind, proxy, ports))
            assert_exactly_once(net, streams)
            assert proxy.accepted > connections, "the fault did not break any connection"
        finally:
            await net.stop()

    run(scenario(), timeout=90)
