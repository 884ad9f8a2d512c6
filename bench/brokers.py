"""The two transports as the benchmarks that run on both see them: the hubs' inboxes, the raw
client's round, the broker's version, and the clean-up after a hub pair."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench import amqp_bench, mqtt_bench
from bench.common import Result, host_port


@dataclass
class Broker:
    name: str  # AMQP or MQTT
    raw_name: str
    inbox_for: Callable[[str], dict[str, Any]]
    _raw: Callable[[int, int, int, float], Any]
    _version: Callable[[], Any]
    _cleanup: Callable[[list[str]], Any]

    async def raw(self, messages: int, window: int, size: int, timeout: float) -> Result:
        """The raw client's round: ``messages`` of ``size`` bytes, at most ``window`` waiting."""
        return await self._raw(messages, window, size, timeout)

    async def version(self) -> str:
        return await self._version()

    async def cleanup(self, hub_ids: list[str]) -> None:
        """Delete what the hubs ``hub_ids`` declared on the broker."""
        await self._cleanup(hub_ids)


def rabbitmq(args: argparse.Namespace) -> Broker:
    broker = host_port(args.rabbit)
    params = amqp_bench.rabbit_params(broker, args.vhost)

    async def version() -> str:
        return f"RabbitMQ {await amqp_bench.rabbit_version(params)}"

    return Broker("AMQP", "raw pika", amqp_bench.amqp_inbox(broker, args.vhost),
                  lambda n, w, size, _t: amqp_bench.raw_round(params, n, w, size), version,
                  lambda ids: asyncio.to_thread(amqp_bench.remove_layout, params, ids))


def mosquitto(args: argparse.Namespace, session_expiry: int = 60) -> Broker:
    broker = host_port(args.mosquitto)

    async def nothing(_ids: list[str]) -> None:
        return None  # the broker forgets the inbox sessions once they expire

    return Broker("MQTT", "raw paho QoS 1", mqtt_bench.mqtt_inbox(broker, session_expiry),
                  lambda n, w, size, t: asyncio.to_thread(mqtt_bench.raw_round, broker, n, w,
                                                          size, t),
                  lambda: asyncio.to_thread(mqtt_bench.broker_version, broker), nothing)


def brokers(args: argparse.Namespace, **mqtt: Any) -> list[Broker]:
    """The brokers ``--transport`` names, in order."""
    made = {"amqp": lambda: rabbitmq(args), "mqtt": lambda: mosquitto(args, **mqtt)}
    names = ["amqp", "mqtt"] if args.transport == "both" else [args.transport]
    return [made[name]() for name in names]


def add_brokers(parser: argparse.ArgumentParser, default: str = "both") -> None:
    """``--transport`` and where the brokers are."""
    parser.add_argument("--transport", choices=("amqp", "mqtt", "both"), default=default,
                        help=f"which broker to run on ({default})")
    amqp_bench.add_rabbit(parser, "--rabbit")
    mqtt_bench.add_mosquitto(parser, "--mosquitto")


Measure = Callable[[Broker, Path, argparse.Namespace], Awaitable[list[list[object]]]]


async def on_each(args: argparse.Namespace, measure: Measure, **mqtt: Any
                  ) -> tuple[list[str], list[list[object]]]:
    """``measure(broker, folder, args)`` on every broker ``--transport`` names, in a temporary
    folder under ``--data-dir``: the brokers' versions and the table rows of all."""
    chosen = brokers(args, **mqtt)
    versions = [await broker.version() for broker in chosen]
    rows = []
    with tempfile.TemporaryDirectory(prefix="porthub-bench-", dir=args.data_dir) as root:
        for broker in chosen:
            rows += await measure(broker, Path(root) / broker.name.lower(), args)
    return versions, rows
