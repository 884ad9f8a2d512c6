"""Network and broker faults between two hubs in the middle of a two-way stream, on the side of
the recipient's Mosquitto: its connections cut, blackholed or refused, the broker SIGKILLed and
started again with and without persistence. Pass: nothing lost, nothing handed over twice, every
message receipted."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.amqp.traffic import RETRY, assert_exactly_once, exchange
from tests.mqtt.conftest import MqttPorts
from tests.support.aio import run, wait_until
from tests.support.netfaults import KINDS, proxy_faults
from tests.support.network import Network

pytestmark = pytest.mark.mosquitto

PER_STREAM = 300
# A silent link is noticed by the write timeout (outlets) or the 2 s keep-alive (inbox);
# what a broker lost comes back when its receipt is 2 s overdue.
FAULT_RETRY = {**RETRY, "receipt_timeout": "2s", "maximum": "3s", "write_timeout": "2s"}
BLACKHOLE = 5.0  # seconds the network carries nothing: longer than the keep-alive bound
DOWN = 1.0  # seconds the killed broker stays down


def network(tmp_path, mqtt_ports: MqttPorts) -> Network:
    """aktau and baku; baku's inbox (which aktau writes to) on the faulty side."""
    return Network(tmp_path, ["aktau", "baku"],
                   inbox_for=mqtt_ports.inbox_for(keepalive=2, connect_timeout=2),
                   extra={"retry": FAULT_RETRY})


@pytest.mark.parametrize("kind", KINDS)
def test_network_fault_mid_stream_loses_and_duplicates_nothing(tmp_path, mqtt_ports: MqttPorts,
                                                                kind: str) -> None:
    """Given aktau and baku sending each other 300 messages, baku's broker behind a proxy,
    when the proxy resets every connection three times mid-stream (cut), carries nothing for
    5 s (blackhole), or resets them and refuses new ones for 2 s (reset), every message is
    receipted and handed over exactly once, and the hubs did have to reconnect."""
    mqtt_ports.add("aktau")
    mqtt_ports.add("baku", proxied=True)
    proxy = mqtt_ports.proxies["baku"]
    net = network(tmp_path, mqtt_ports)

    async def scenario() -> None:
        await net.start()
        try:
            connections = proxy.accepted
            streams = await exchange(net, PER_STREAM, timeout=90,
                                     faults=proxy_faults(kind, proxy, blackhole=BLACKHOLE))
            assert_exactly_once(net, streams)
            assert proxy.accepted > connections, "the fault did not break any connection"
        finally:
            await net.stop()

    run(scenario(), timeout=120)


@pytest.mark.parametrize("persistence", [True, False], ids=["persistence", "no-persistence"])
def test_recipients_broker_killed_mid_stream(tmp_path, mqtt_ports: MqttPorts, caplog,
                                             persistence: bool) -> None:
    """Given aktau and baku sending each other 300 messages, when baku's Mosquitto is
    SIGKILLed mid-stream and started again a second later, every message is receipted and
    handed over exactly once.

    With persistence the broker saves a snapshot every two seconds or so here, so it comes
    back with baku's session and a stale queue: messages baku took after the snapshot arrive
    again (its inbox answers them with the original receipt), messages that reached the broker
    after it are gone. Without persistence it forgets the session and everything queued in it. Either way
    aktau's outbox resends what was never receipted."""
    mqtt_ports.add("aktau")
    broker = mqtt_ports.add("baku", persistence=persistence,
                            extra=("autosave_interval 1",) if persistence else ())
    net = network(tmp_path, mqtt_ports)

    async def kill() -> None:
        # Make sure the broker holds messages for baku when it dies: baku takes nothing in
        # while aktau writes 60 more (beyond the 20 Mosquitto keeps in flight to a client).
        baku, aktau = net.hubs["baku"].intake, net.hubs["aktau"].metrics
        handle, taking = baku.handle, asyncio.Event()

        async def held(deliveries) -> None:
            await taking.wait()
            await handle(deliveries)

        baku.handle = held
        sent = aktau.value("porthub_messages_sent_total", peer="baku")
        try:
            await wait_until(lambda: aktau.value("porthub_messages_sent_total", peer="baku")
                             >= min(sent + 60, PER_STREAM), 30, what="60 more messages to baku")
            await asyncio.to_thread(broker.kill)
            await asyncio.sleep(DOWN)  # the length of the outage
            await asyncio.to_thread(broker.start)
        finally:
            baku.handle = handle
            taking.set()

    async def scenario() -> None:
        await net.start()
        try:
            if persistence:  # a snapshot that holds baku's session, before the stream
                subscribed = time.time()
                snapshot = broker.data_dir / "mosquitto.db"
                await wait_until(lambda: snapshot.exists()
                                 and snapshot.stat().st_mtime > subscribed, 10,
                                 what="a snapshot of baku's broker")
            streams = await exchange(net, PER_STREAM, timeout=90, faults=[(0.3, kill)])
            assert_exactly_once(net, streams)
            lost_session = "had no session for inbox porthub-baku-inbox" in caplog.text
            assert lost_session is not persistence
            resent = net.hubs["aktau"].metrics.value("porthub_messages_retried_total",
                                                     peer="baku")
            again = net.hubs["baku"].metrics.value("porthub_inbound_rejected_total",
                                                   reason="duplicate")
            print(f"aktau resent {resent:.0f} messages to baku, baku answered {again:.0f} "
                  "duplicates")
            if not persistence:
                assert resent > 0, "nothing was queued on the broker when it was killed"
        finally:
            await net.stop()

    run(scenario(), timeout=120)
