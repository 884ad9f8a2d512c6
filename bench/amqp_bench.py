"""Hub to hub over AMQP, beside raw pika to the same broker in the same run.

    python -m bench.amqp_bench [--messages N] [--window W] [--rounds R] [--broker HOST:PORT]

Each round measures, one after the other on one event loop:

* **hub**: two porthub hubs (store, signing, verifying, receipts, hand-over) in this process,
  each with its AMQP inbox on the broker; one submits N ``shipment.status`` messages to the
  other, keeping at most W unreceipted (the hub's ``retry.window`` is W too). Time: first
  submit to last receipt. Latency: submit to receipt, the full round trip.
* **raw pika**: one connection publishes N persistent messages, as large as the hub's signed
  ones, to a durable queue with publisher confirms, keeping at most W unconfirmed; another
  consumes them with manual acks (prefetch 64, as the hub's inbox). Time: first publish to
  last message consumed. Latency: publish to consume, one way.

The result is the ratio of the two throughputs; a bare number means little on a machine of
unknown speed. ``hub_round`` runs on any transport (it takes the hubs' ``inbox_for``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from hub import events as ev
from hub.config import load_config
from hub.core import Hub
from hub.envelope import Envelope
from hub.sandbox import build_sandbox

USER = PASSWORD = "guest"  # RabbitMQ's default user, which only works from localhost
BODY = {"container": "CSPU1234567", "bill_of_lading": "AKTBAK250001", "status": "loaded",
        "location": "KZAAU", "at": "2025-03-12T08:15:00Z"}
PREFETCH = 64  # the hub inbox's default
OPEN_TIMEOUT = 10.0


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies: list[float]  # seconds, one per message
    cpu: float = 0.0  # CPU seconds the clients used (both hubs' processes; the raw client's)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_per_message(self) -> float:
        return self.cpu / self.messages

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


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

class _Receipts:
    """Counts receipts at the sending hub and frees a place in the window for each."""

    def __init__(self, messages: int, window: int) -> None:
        self.messages = messages
        self.slots = asyncio.Semaphore(window)
        self.latencies: list[float] = []
        self.finished = asyncio.get_running_loop().create_future()

    def on_event(self, event: ev.Event) -> None:
        if event.kind == ev.DELIVERED:
            self.latencies.append(event.detail["latency"])
            self.slots.release()
            if len(self.latencies) == self.messages and not self.finished.done():
                self.finished.set_result(time.perf_counter())


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def amqp_inbox(broker: tuple[str, int], vhost: str) -> Callable[[str], dict[str, Any]]:
    """``inbox_for`` of the benchmark hubs: each hub's inbox on ``broker`` in ``vhost``."""

    def inbox_for(_hub: str) -> dict[str, Any]:
        return {"kind": "amqp", "url": f"amqp://{USER}@{broker[0]}:{broker[1]}/",
                "password": {"value": PASSWORD}, "vhost": vhost}

    return inbox_for


@dataclass
class HubRun:
    result: Result
    hub_ids: list[str]  # unique to the run: what the hubs declared on the broker is named so
    message_bytes: int  # one signed message as published


async def _hand_over(_envelope: Envelope) -> None:
    return None  # the receiving port's local system, which takes everything at once


def _connected(hub: Hub) -> bool:
    return hub.intake.connected and all(link.up for link in hub.links.values())


async def _serve(config_path: Path, ready: Any, stop: Any, cpu: Any) -> None:
    hub = Hub.from_config(load_config(config_path))
    hub.local_delivery = _hand_over
    await hub.start()
    try:
        await _until(lambda: _connected(hub), 30, "the receiving hub to connect")
        began = time.process_time()
        ready.set()
        await asyncio.to_thread(stop.wait, 3600)
        cpu.value = time.process_time() - began
    finally:
        await hub.stop()


def _receiver_process(config_path: Path, ready: Any, stop: Any, cpu: Any) -> None:
    """The receiving hub in a process of its own, as at a real port."""
    asyncio.run(_serve(config_path, ready, stop, cpu))


class _Elsewhere:
    """The receiving hub's process; ``cpu`` is what it used while it was ready."""

    def __init__(self, config_path: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready, self.stop, self._cpu = context.Event(), context.Event(), context.Value("d")
        self.process = context.Process(target=_receiver_process, name="porthub-bench-receiver",
                                       args=(config_path, self.ready, self.stop, self._cpu))

    @property
    def cpu(self) -> float:
        return self._cpu.value

    async def __aenter__(self) -> "_Elsewhere":
        self.process.start()
        if not await asyncio.to_thread(self.ready.wait, 60):
            await self.__aexit__()
            raise RuntimeError("the receiving hub's process did not get ready within 60 s")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop.set()
        await asyncio.to_thread(self.process.join, 30)
        if self.process.is_alive():
            self.process.kill()


async def hub_round(root: Path, inbox_for: Callable[[str], dict[str, Any]], messages: int,
                    window: int, processes: int = 2) -> HubRun:
    """One hub-to-hub run on whatever transport ``inbox_for`` gives the hubs' inboxes: the
    receiving hub in a process of its own (``processes=2``, as deployed) or beside the
    sender in this one (``processes=1``)."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"aktau-{tag}", f"baku-{tag}"]
    # No resend may muddy the figures: the receipt timeout is far above any round trip here.
    retry = {"window": window, "receipt_timeout": "120s", "maximum": "120s"}
    sandbox = build_sandbox(root, ids, inbox_for, extra={"retry": retry})
    sender = Hub.from_config(sandbox.config(ids[0]))
    elsewhere = None
    async with contextlib.AsyncExitStack() as stack:
        hubs = [sender]
        if processes == 2:
            elsewhere = await stack.enter_async_context(
                _Elsewhere(sandbox.config_paths[ids[1]]))
        else:
            receiver = Hub.from_config(sandbox.config(ids[1]))
            receiver.local_delivery = _hand_over
            hubs.append(receiver)
        run = await _timed_round(hubs, ids, messages, window)
    if elsewhere is not None:
        run.cpu += elsewhere.cpu
    db = sender.config.hub.data_dir / "hub.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        [(size,)] = conn.execute("SELECT length(jws) FROM messages WHERE direction = 'out'"
                                 " LIMIT 1").fetchall()
    return HubRun(run, ids, size)


async def _timed_round(hubs: list[Hub], ids: list[str], messages: int, window: int) -> Result:
    """Start ``hubs``, submit ``messages`` from the first to ``ids[1]``, time the receipts."""
    sender = hubs[0]
    for hub in hubs:
        await hub.start()
    try:
        await _until(lambda: all(_connected(h) for h in hubs), 30, "the hubs to connect")
        receipts = _Receipts(messages, window)
        sender.events.observers.append(receipts)
        submitting: set[asyncio.Task] = set()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(messages):
            await receipts.slots.acquire()
            # Not awaited one by one: concurrent submits share their outbox commits, as
            # submits from several adapters would.
            task = asyncio.create_task(sender.submit("shipment.status", BODY, to=ids[1]))
            submitting.add(task)
            task.add_done_callback(submitting.discard)
        ended = await receipts.finished
        cpu = time.process_time() - cpu
    finally:
        for hub in hubs:
            await hub.stop()
    return Result("porthub hub", messages, ended - started, receipts.latencies, cpu)


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

def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(rounds: list[tuple[Result, Any]], header: str, baseline: str, raw_latency: str,
          lost: bool = False) -> str:
    """The Markdown table of ``(hub, raw)`` round pairs and the median ratio, for every
    benchmark: ``baseline`` names the raw client, ``raw_latency`` what its latency spans,
    ``lost`` adds a column of messages the raw run never saw."""
    columns = ["round", "run", "messages", "seconds", "msg/s", "latency p50 ms",
               "latency p99 ms", "CPU µs/msg"] + (["lost"] if lost else [])
    lines = [header, "", _row(columns), _row(["---"] * len(columns))]
    for n, pair in enumerate(rounds, 1):
        for result in pair:
            lines.append(_row([str(n), result.name, str(result.messages),
                               f"{result.seconds:.2f}", f"{result.rate:.0f}",
                               f"{result.percentile(50) * 1000:.1f}",
                               f"{result.percentile(99) * 1000:.1f}",
                               f"{result.cpu_per_message * 1e6:.0f}"]
                              + ([str(getattr(result, "lost", 0))] if lost else [])))
    ratios = [hub.rate / raw.rate for hub, raw in rounds]
    hub_p50 = statistics.median(hub.percentile(50) for hub, _raw in rounds)
    hub_p99 = statistics.median(hub.percentile(99) for hub, _raw in rounds)
    lines += ["", f"hub throughput / {baseline} throughput: {statistics.median(ratios):.3f} "
              f"(median of {len(ratios)}; each round: "
              f"{', '.join(f'{r:.3f}' for r in ratios)})",
              f"client CPU per message, hub / {baseline}: " + ", ".join(
                  f"{hub.cpu_per_message / raw.cpu_per_message:.1f}" for hub, raw in rounds)
              + " (CPU of both hubs' processes / of the raw client; the broker's is not counted)",
              f"hub latency, submit to receipt: p50 {hub_p50 * 1000:.0f} ms, "
              f"p99 {hub_p99 * 1000:.0f} ms (median over rounds)",
              f"raw latency is {raw_latency} (one way); hub latency is submit to receipt "
              "(there and back, signed, verified and committed at both ends)"]
    return "\n".join(lines)


def report(rounds: list[tuple[Result, Result]], window: int, size: int, broker_version: str,
           data_dir: str) -> str:
    header = (f"{os.cpu_count()} cores, Python {platform.python_version()}, pika "
              f"{pika.__version__}, RabbitMQ {broker_version}; {size}-byte messages, window "
              f"{window}, hub stores in {data_dir}")
    return table(rounds, header, "raw pika", "publish to consume")


async def main(args: argparse.Namespace) -> str:
    host, _, port = args.broker.rpartition(":")
    broker = (host or "127.0.0.1", int(port))
    params = pika.ConnectionParameters(broker[0], broker[1], args.vhost,
                                       pika.PlainCredentials(USER, PASSWORD),
                                       connection_attempts=1, socket_timeout=5)
    probe, _channel = await _open(params)
    version = probe.server_properties.get("version", "?")
    probe.close()
    with tempfile.TemporaryDirectory(prefix="porthub-bench-", dir=args.data_dir) as root:
        rounds = []
        for n in range(1, args.rounds + 1):
            hub = await hub_round(Path(root) / f"round{n}", amqp_inbox(broker, args.vhost),
                                  args.messages, args.window, args.processes)
            await asyncio.to_thread(remove_layout, params, hub.hub_ids)
            raw = await raw_round(params, args.messages, args.window, hub.message_bytes)
            print(f"round {n}: hub {hub.result.rate:.0f} msg/s, raw {raw.rate:.0f} msg/s",
                  file=sys.stderr)
            rounds.append((hub.result, raw))
    version = version.decode() if isinstance(version, bytes) else str(version)
    return report(rounds, args.window, hub.message_bytes, version,
                  args.data_dir or tempfile.gettempdir())


def parse_args(argv: list[str] | None, prog: str, doc: str, window_help: str,
               broker_default: str, broker_help: str,
               extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None
               ) -> argparse.Namespace:
    """The options every benchmark takes; ``extra`` adds a benchmark's own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    parser.add_argument("--window", type=int, default=200, help=window_help)
    parser.add_argument("--rounds", type=int, default=3, help="hub + raw pairs to run (3)")
    parser.add_argument("--broker", default=broker_default, help=broker_help)
    parser.add_argument("--processes", type=int, choices=(1, 2), default=2,
                        help="2: the receiving hub in a process of its own, as deployed (the "
                             "default); 1: both hubs in this process")
    extra(parser)
    parser.add_argument("--data-dir", default=None,
                        help="where the hubs' stores go (a temporary folder under $TMPDIR)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up after this many seconds (600)")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.window < 1 or args.rounds < 1:
        parser.error("--messages, --window and --rounds must be at least 1")
    return args


def _amqp_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_args(
        argv, "python -m bench.amqp_bench", __doc__,
        "unconfirmed (raw) or unreceipted (hub) messages at once (200)",
        os.environ.get("PORTHUB_TEST_RABBIT", "127.0.0.1:5672"),
        "RabbitMQ host:port, user guest (PORTHUB_TEST_RABBIT)",
        lambda parser: parser.add_argument(
            "--vhost", default="/", help="vhost to use (/); names are unique per run"))


def run(argv: list[str] | None = None) -> int:
    args = _amqp_args(argv)

    async def bounded() -> str:
        return await asyncio.wait_for(main(args), args.timeout)

    print(asyncio.run(bounded()))
    return 0


if __name__ == "__main__":
    sys.exit(run())
