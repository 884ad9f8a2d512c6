"""Hub to hub over AMQP, beside raw pika to the same broker in the same run.

    python -m bench.amqp_bench [--messages N] [--window W] [--rounds R] [--broker HOST:PORT]

Each round measures, one after the other on one event loop:

* **hub**: two porthub hubs (store, signing, verifying, receipts, hand-over), the sending one
  in this process and the receiving one in a process of its own (``--processes 1``: both in
  this one), each with its AMQP inbox on the broker; one submits N ``shipment.status``
  messages to the other, keeping at most W unreceipted (the hub's ``retry.window`` is W too).
  Time: first submit to last receipt. Latency: submit to receipt, the full round trip.
* **raw pika**: one connection publishes N persistent messages, as large as the hub's signed
  ones, to a durable queue with publisher confirms, keeping at most W unconfirmed; another
  consumes them with manual acks (prefetch 64, as the hub's inbox). Time: first publish to
  last message consumed. Latency: publish to consume, one way.

The result is the ratio of the two throughputs; a bare number means little on a machine of
unknown speed. ``hub_round`` (bench/common.py) runs on any transport: it takes the hubs'
``inbox_for``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from bench.common import (BODY, HubRun, Result, host_port, hub_round, machine, parse_args,
                          run_main, table)

__all__ = ["BODY", "HubRun", "Result", "hub_round", "parse_args", "table", "amqp_inbox",
           "raw_round", "remove_layout", "rabbit_params", "rabbit_version"]

USER = PASSWORD = "guest"  # RabbitMQ's default user, which only works from localhost
PREFETCH = 64  # the hub inbox's default
OPEN_TIMEOUT = 10.0


# -- raw pika ----------------------------------------------------------------------------------

async def _open(params: pika.ConnectionParameters) -> tuple[AsyncioConnection, Any]:
    """A pika connection on the running loop and one channel on it."""
    loop = asyncio.get_running_loop()
    opened: asyncio.Future = loop.create_future()

    def failed(_conn: Any, error: BaseException) -> None:
        if not opened.done():
            opened.set_exception(RuntimeError(f"cannot open {params.host}:{params.port}: {error}"))

    connection = AsyncioConnection(params, on_open_callback=lambda c: opened.set_result(c),
                                   on_open_error_callback=failed, custom_ioloop=loop)
    await asyncio.wait_for(opened, OPEN_TIMEOUT)
    channel: asyncio.Future = loop.create_future()
    connection.channel(on_open_callback=channel.set_result)
    return connection, await asyncio.wait_for(channel, OPEN_TIMEOUT)


async def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a pika channel method that answers through ``callback`` and await the answer."""
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    method(callback=done.set_result, **kwargs)
    return await asyncio.wait_for(done, OPEN_TIMEOUT)


async def raw_round(params: pika.ConnectionParameters, messages: int, window: int,
                    size: int) -> Result:
    queue = f"bench.raw.{uuid.uuid4().hex[:8]}"
    body = b"x" * size
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    sent_at: list[float] = [0.0] * messages
    latencies: list[float] = []
    unconfirmed: set[int] = set()  # delivery tags published and not yet confirmed
    published = 0

    consumer, consumer_channel = await _open(params)
    producer, channel = await _open(params)
    try:
        await _call(consumer_channel.queue_declare, queue=queue, durable=True)
        await _call(consumer_channel.basic_qos, prefetch_count=PREFETCH)

        def check_finished() -> None:
            if len(latencies) == messages and not unconfirmed and published == messages \
                    and not finished.done():
                finished.set_result(time.perf_counter())

        def on_message(ch: Any, method: Any, properties: Any, _body: bytes) -> None:
            latencies.append(time.perf_counter() - sent_at[int(properties.message_id)])
            ch.basic_ack(method.delivery_tag)
            check_finished()

        def publish_more() -> None:
            nonlocal published
            while len(unconfirmed) < window and published < messages:
                sent_at[published] = time.perf_counter()
                channel.basic_publish("", queue, body, pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent, message_id=str(published)))
                published += 1
                unconfirmed.add(published)  # confirm tags count publishes from 1

        def on_confirm(frame: Any) -> None:
            method = frame.method
            if isinstance(method, pika.spec.Basic.Nack) and not finished.done():
                finished.set_exception(RuntimeError("the broker refused a message (nack)"))
                return
            tags = [t for t in unconfirmed if t <= method.delivery_tag] if method.multiple \
                else [method.delivery_tag]
            unconfirmed.difference_update(tags)
            publish_more()
            check_finished()

        await _call(consumer_channel.basic_consume, queue=queue, on_message_callback=on_message)
        await _call(channel.confirm_delivery, ack_nack_callback=on_confirm)
        started, cpu = time.perf_counter(), time.process_time()
        publish_more()
        ended = await finished
        cpu = time.process_time() - cpu
        await _call(consumer_channel.queue_delete, queue=queue)
    finally:
        for connection in (producer, consumer):
            if connection.is_open:
                connection.close()
    return Result("raw pika", messages, ended - started, latencies, cpu)


# -- hub to hub --------------------------------------------------------------------------------

def amqp_inbox(broker: tuple[str, int], vhost: str) -> Callable[[str], dict[str, Any]]:
    """``inbox_for`` of the benchmark hubs: each hub's inbox on ``broker`` in ``vhost``."""

    def inbox_for(_hub: str) -> dict[str, Any]:
        return {"kind": "amqp", "url": f"amqp://{USER}@{broker[0]}:{broker[1]}/",
                "password": {"value": PASSWORD}, "vhost": vhost}

    return inbox_for


def remove_layout(params: pika.ConnectionParameters, hub_ids: list[str]) -> None:
    """Delete the exchanges and queues the benchmark hubs declared."""
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        for hub_id in hub_ids:
            for queue in (f"porthub.{hub_id}.inbox", f"porthub.{hub_id}.dead"):
                channel.queue_delete(queue)
            for exchange in (f"porthub.{hub_id}.inbox", f"porthub.{hub_id}.dlx"):
                channel.exchange_delete(exchange)


# -- the run -----------------------------------------------------------------------------------

def rabbit_params(broker: tuple[str, int], vhost: str) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(broker[0], broker[1], vhost,
                                     pika.PlainCredentials(USER, PASSWORD),
                                     connection_attempts=1, socket_timeout=5)


async def rabbit_version(params: pika.ConnectionParameters) -> str:
    """What the broker says it is (its ``version`` server property), or "?"."""
    probe, _channel = await _open(params)
    version = probe.server_properties.get("version", "?")
    probe.close()
    return version.decode() if isinstance(version, bytes) else str(version)


def report(rounds: list[tuple[Result, Result]], window: int, size: int, broker_version: str,
           data_dir: str) -> str:
    header = (f"{machine(f'RabbitMQ {broker_version}')}; {size}-byte messages, window "
              f"{window}, hub stores in {data_dir}")
    return table(rounds, header, "raw pika", "publish to consume")


async def main(args: argparse.Namespace) -> str:
    broker = host_port(args.broker)
    params = rabbit_params(broker, args.vhost)
    version = await rabbit_version(params)
    with tempfile.TemporaryDirectory(prefix="porthub-bench-", dir=args.data_dir) as root:
        rounds = []
        for n in range(1, args.rounds + 1):
            hub = await hub_round(
                Path(root) / f"round{n}", amqp_inbox(broker, args.vhost), args.messages,
                args.window, args.processes,
                lambda ids: asyncio.to_thread(remove_layout, params, ids))
            raw = await raw_round(params, args.messages, args.window, hub.message_bytes)
            print(f"round {n}: hub {hub.result.rate:.0f} msg/s, raw {raw.rate:.0f} msg/s",
                  file=sys.stderr)
            rounds.append((hub.result, raw))
    return report(rounds, args.window, hub.message_bytes, version,
                  args.data_dir or tempfile.gettempdir())


def add_rabbit(parser: argparse.ArgumentParser, option: str = "--broker") -> None:
    """The RabbitMQ to use: ``option`` (host:port, user guest) and ``--vhost``."""
    parser.add_argument(option, default=os.environ.get("PORTHUB_TEST_RABBIT", "127.0.0.1:5672"),
                        help="RabbitMQ host:port, user guest (PORTHUB_TEST_RABBIT, or "
                             "127.0.0.1:5672)")
    parser.add_argument("--vhost", default="/", help="vhost to use (/); names are unique per run")


def _amqp_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_args(argv, "python -m bench.amqp_bench", __doc__,
                      "unconfirmed (raw) or unreceipted (hub) messages at once (200)", add_rabbit)


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _amqp_args(argv))


if __name__ == "__main__":
    sys.exit(run())
