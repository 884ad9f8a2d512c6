"""A burst of messages for a port whose hub is down, through a Mosquitto with its default
settings: at most 1,000 messages queued per client (``max_queued_messages``), anything beyond
that acknowledged to the publisher and then silently dropped (docs/mosquitto.md).

The sender's in-flight window (``retry.window``) keeps what it has written and not yet seen
receipted within that limit; everything else waits in its outbox. When the hub comes back, the
queue drains: nothing lost, nothing handed over twice. A window above the limit loses
messages on the broker, and the sender's resends bring them.
"""

from __future__ import annotations

import time

import pytest

from tests.amqp.traffic import (RETRY, Stream, assert_exactly_once, submit, wait_handed_over,
                                wait_receipted)
from tests.mqtt.conftest import MqttPorts
from tests.support.aio import run, wait_until
from tests.support.network import Network

pytestmark = pytest.mark.mosquitto

QUEUE_LIMIT = 1000  # Mosquitto's max_queued_messages by default
WINDOW = 500  # half the broker's queue: room for the window and one round of its resends
# A message of the burst waits behind at most a window of others, a few seconds here; a
# shorter receipt timeout would resend much of the window while the recipient is only busy.
BURST_RETRY = {**RETRY, "receipt_timeout": "20s", "maximum": "60s"}


def burst(tmp_path, mqtt_ports: MqttPorts, count: int, window: int, timeout: float,
          **retry: str) -> None:
    """aktau sends ``count`` messages to baku while baku's hub is down, with an in-flight
    window of ``window``; then baku starts. Passes if every message is receipted and handed
    over exactly once (and, for a window above the broker's queue, if the broker did drop
    messages before baku started)."""
    mqtt_ports.add("aktau")
    mqtt_ports.add("baku")
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=mqtt_ports.inbox_for(),
                  extra={"retry": {**BURST_RETRY, **retry, "window": window}})

    async def scenario() -> None:
        await net.start("baku")
        await net.stop("baku")  # its session stays on the broker; nobody reads it
        await net.start("aktau")
        try:
            hub = net.hubs["aktau"]
            began = time.monotonic()
            stream = Stream("aktau", "baku", await submit(hub, "baku", count))
            submitted = time.monotonic()
            await wait_until(lambda: hub.metrics.value("porthub_messages_sent_total",
                                                       peer="baku") >= window, 30,
                             what=f"a window of {window} written")
            outbox = (await hub.full_status())["peers"]["baku"]
            assert (outbox["awaiting_receipt"], outbox["queued"]) == (window, count - window), \
                "the in-flight window was exceeded"
            if window > QUEUE_LIMIT:
                assert mqtt_ports.dropped("baku"), "the broker did not drop anything"
            restarted = time.monotonic()
            await net.start("baku")
            await wait_receipted(net, [stream], timeout)
            await wait_handed_over(net, [stream], timeout)
            drained = time.monotonic()
            assert_exactly_once(net, [stream])
            print(f"{count} messages, window {window}: submitted in {submitted - began:.1f} s, "
                  f"drained in {drained - restarted:.1f} s after baku started "
                  f"({count / (drained - restarted):.0f}/s); "
                  f"{hub.metrics.value('porthub_messages_retried_total', peer='baku'):.0f} "
                  f"resent; baku's broker logged {mqtt_ports.dropped('baku')} runs of drops")
        finally:
            await net.stop()

    run(scenario(), timeout=timeout + 60)


def test_burst_of_5000_for_a_stopped_hub_through_default_mosquitto(tmp_path, mqtt_ports
                                                                   ) -> None:
    """Given baku's hub stopped (its inbox session on the broker) and aktau with a window of
    500, when aktau submits 5,000 messages, 500 are written and 4,500 wait in its outbox;
    when baku starts, every message is receipted and handed over exactly once."""
    burst(tmp_path, mqtt_ports, 5000, WINDOW, timeout=120)


@pytest.mark.long
def test_burst_of_20000_for_a_stopped_hub_through_default_mosquitto(tmp_path, mqtt_ports
                                                                    ) -> None:
    """The same with 20,000 messages, twenty times the broker's queue."""
    burst(tmp_path, mqtt_ports, 20_000, WINDOW, timeout=480)


def test_window_above_the_brokers_queue_loses_messages_that_resends_recover(tmp_path,
                                                                            mqtt_ports) -> None:
    """Given aktau with a window of 1,500, above the 1,000 messages the broker queues for a
    client, when aktau sends 1,500 messages to the stopped baku, the broker acknowledges every
    one and drops some (its log says so); when baku starts, aktau resends what was not
    receipted, and every message is receipted and handed over exactly once."""
    burst(tmp_path, mqtt_ports, 1500, 1500, timeout=90, receipt_timeout="8s", maximum="8s")
