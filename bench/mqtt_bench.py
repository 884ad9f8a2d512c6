"""Hub to hub over MQTT, beside raw paho-mqtt to the same broker in the same run.

    python -m bench.mqtt_bench [--messages N] [--window W] [--rounds R] [--broker HOST:PORT]

Each round measures, one after the other:

* **hub**: two porthub hubs (store, signing, verifying, receipts, hand-over), the sending one
  in this process and the receiving one in a process of its own (``--processes 1``: both in
  this one), each with its MQTT inbox on the broker; one submits N ``shipment.status``
  messages to the other, keeping at most W unreceipted (the hub's ``retry.window`` is W too).
  Time: first submit to last receipt. Latency: submit to receipt, the full round trip.
* **raw paho**: one MQTT 5 client publishes N QoS 1 messages to a topic, keeping at most W
  awaiting their PUBACK (and never more than the broker's Receive Maximum, which paho 2.2
  ignores: docs/mosquitto.md, trap 1); another, subscribed at QoS 1, receives them. Both run
  paho's own network thread, as a plain paho program does. Time: first publish to last message
  received. Latency: publish to receive, one way.

The raw messages are as large as the hub's signed ones. The result is the ratio of the two
throughputs; a bare number means little on a machine of unknown speed.

A broker acknowledges a QoS 1 publish when it has the message, not when the subscriber does:
if the raw subscriber falls more than ``max_queued_messages`` (1,000 by default) behind, the
broker drops the excess, and the raw run reports those messages as lost. The hub run cannot
lose any (its outbox resends them), but keep W below the broker's queue limit or it pays for
them with resends.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from bench.common import (Result, host_port, hub_round, machine, parse_args, run_main,
                          table)

OPEN_TIMEOUT = 10.0
QUIET = 5.0  # seconds without a message after which the raw subscriber is given up on
PAYLOAD_INDEX = 10  # digits of the message's number at the start of a raw payload


@dataclass
class RawResult(Result):
    window: int = 0  # publishes awaiting PUBACK at most: --window, capped by the broker
    lost: int = 0  # published, acknowledged by the broker, never received


# -- raw paho ----------------------------------------------------------------------------------

class _Client:
    """A paho client on its own network thread, connected (MQTT 5, clean start)."""

    def __init__(self, broker: tuple[str, int], client_id: str, in_flight: int = 20) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.max_inflight_messages_set(in_flight)
        self.receive_maximum = 65535  # the broker's, from CONNACK
        connected = threading.Event()

        def on_connect(_client: Any, _userdata: Any, _flags: Any, reason: Any,
                       properties: Any) -> None:
            if not reason.is_failure:
                self.receive_maximum = getattr(properties, "ReceiveMaximum", 65535)
                connected.set()

        self.client.on_connect = on_connect
        self.client.connect(*broker, keepalive=30, clean_start=True)
        self.client.loop_start()
        if not connected.wait(OPEN_TIMEOUT):
            self.close()
            raise RuntimeError(f"no CONNACK from the MQTT broker {broker[0]}:{broker[1]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_round(broker: tuple[str, int], messages: int, window: int, size: int,
              timeout: float) -> RawResult:
    """Publish and receive ``messages`` raw QoS 1 messages (blocking: run it in a thread)."""
    topic = f"porthub-bench/{uuid.uuid4().hex[:8]}/raw"
    padding = b"x" * max(0, size - PAYLOAD_INDEX)
    sent_at = [0.0] * messages
    latencies: list[float] = []
    last_received = [0.0]
    all_received = threading.Event()

    def on_message(_client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        last_received[0] = time.perf_counter()
        latencies.append(last_received[0] - sent_at[int(message.payload[:PAYLOAD_INDEX])])
        if len(latencies) == messages:
            all_received.set()

    subscriber = _Client(broker, f"bench-{uuid.uuid4().hex[:8]}-sub")
    publisher = None
    try:
        subscribed = threading.Event()
        subscriber.client.on_subscribe = lambda *_args: subscribed.set()
        subscriber.client.on_message = on_message
        subscriber.client.subscribe(topic, qos=1)
        if not subscribed.wait(OPEN_TIMEOUT):
            raise RuntimeError("no SUBACK from the MQTT broker")
        publisher = _Client(broker, f"bench-{uuid.uuid4().hex[:8]}-pub", in_flight=window)
        window = min(window, publisher.receive_maximum)
        slots = threading.Semaphore(window)
        publisher.client.on_publish = lambda *_args: slots.release()
        deadline = time.monotonic() + timeout
        started, cpu = time.perf_counter(), time.process_time()  # with paho's threads
        for n in range(messages):
            if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"no PUBACK within {timeout} s")
            sent_at[n] = time.perf_counter()
            info = publisher.client.publish(topic, b"%010d" % n + padding, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish failed: {paho.error_string(info.rc)}")
        # Wait for the rest; a subscriber that stays quiet for QUIET seconds has lost them.
        seen = -1
        while not all_received.is_set() and len(latencies) != seen:
            seen = len(latencies)
            if all_received.wait(min(QUIET, max(0.0, deadline - time.monotonic()))):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"raw paho did not finish within {timeout} s")
        cpu = time.process_time() - cpu
    finally:
        for client in (publisher, subscriber):
            if client is not None:
                client.close()
    return RawResult("raw paho QoS 1", len(latencies), last_received[0] - started, latencies,
                     cpu, window=window, lost=messages - len(latencies))


# -- hub to hub --------------------------------------------------------------------------------

def mqtt_inbox(broker: tuple[str, int], session_expiry: int = 60
               ) -> Callable[[str], dict[str, Any]]:
    """``inbox_for`` of the benchmark hubs: each hub's inbox topic on ``broker``. The session
    expiry is short, so that the broker soon forgets the benchmark's inbox sessions; it must
    outlast any time a benchmark keeps the receiving hub down."""

    def inbox_for(_hub: str) -> dict[str, Any]:
        return {"kind": "mqtt", "host": broker[0], "port": broker[1],
                "session_expiry": session_expiry}

    return inbox_for


def broker_version(broker: tuple[str, int]) -> str:
    """What the broker says it is ($SYS/broker/version, retained), or "?"."""
    got = threading.Event()
    version = ["?"]
    client = _Client(broker, f"bench-{uuid.uuid4().hex[:8]}-probe")

    def on_message(_client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        version[0] = message.payload.decode(errors="replace")
        got.set()

    try:
        client.client.on_message = on_message
        client.client.subscribe("$SYS/broker/version", qos=0)
        got.wait(2.0)
    finally:
        client.close()
    return version[0]


# -- the run -----------------------------------------------------------------------------------

def report(rounds: list[tuple[Result, RawResult]], window: int, raw_window: int, size: int,
           version: str, data_dir: str) -> str:
    """The Markdown table of ``(hub, raw)`` pairs, with the raw run's losses, and the ratio."""
    header = (f"{machine(version)}; {size}-byte messages, window {window} "
              f"(raw: {raw_window} awaiting PUBACK), hub stores in {data_dir}")
    return table(rounds, header, "raw paho", "publish to receive", lost=True)


async def main(args: argparse.Namespace) -> str:
    broker = host_port(args.broker)
    version = await asyncio.to_thread(broker_version, broker)
    with tempfile.TemporaryDirectory(prefix="porthub-bench-", dir=args.data_dir) as root:
        rounds = []
        for n in range(1, args.rounds + 1):
            hub = await hub_round(Path(root) / f"round{n}", mqtt_inbox(broker), args.messages,
                                  args.window, args.processes)
            raw = await asyncio.to_thread(raw_round, broker, args.messages, args.window,
                                          hub.message_bytes, args.timeout)
            print(f"round {n}: hub {hub.result.rate:.0f} msg/s, raw {raw.rate:.0f} msg/s"
                  + (f" ({raw.lost} lost)" if raw.lost else ""), file=sys.stderr)
            rounds.append((hub.result, raw))
    return report(rounds, args.window, raw.window, hub.message_bytes, version,
                  args.data_dir or tempfile.gettempdir())


def add_mosquitto(parser: argparse.ArgumentParser, option: str = "--broker") -> None:
    parser.add_argument(option, default="127.0.0.1:1883",
                        help="Mosquitto host:port, anonymous access (127.0.0.1:1883)")


def _mqtt_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_args(
        argv, "python -m bench.mqtt_bench", __doc__,
        "unreceipted (hub) or un-PUBACKed (raw) messages at once (200); keep it below the "
        "broker's max_queued_messages", add_mosquitto)


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _mqtt_args(argv))


if __name__ == "__main__":
    sys.exit(run())
