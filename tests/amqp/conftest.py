"""Hubs talking through the real RabbitMQ, each port with its inbox in a vhost of its own.

The vhosts (one per port name, unique to this test run) are made once per session and deleted
at its end; after every test the ports' exchanges and queues are deleted, so each test starts
from an empty broker. Hub ids are the port names, so the names on the broker read like
production (``porthub.baku.inbox`` in vhost ``porthub-test-baku-...``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import pika
import pytest

from tests.support.rabbit import (PASSWORD, USER, broker_address, create_vhost, delete_vhost,
                                  require_rabbitmq)
from tests.support.tcpproxy import TcpProxy

PORTS = ("aktau", "baku", "samsun")


class Ports:
    """Where each port's inbox lives on the test broker."""

    def __init__(self, vhosts: dict[str, str]) -> None:
        self.vhosts = vhosts

    def inbox_for(self, via: TcpProxy | None = None,
                  **overrides: Any) -> Callable[[str], dict[str, Any]]:
        """``inbox_for(hub)`` for ``Network``/``build_sandbox``: the hub's AMQP inbox in its
        port's vhost, reached directly or through ``via``; peers write to it the same way."""
        host, port = via.address if via else broker_address()

        def settings(hub_id: str) -> dict[str, Any]:
            return {"kind": "amqp", "url": f"amqp://{USER}@{host}:{port}/",
                    "password": {"value": PASSWORD}, "vhost": self.vhosts[hub_id],
                    "heartbeat": 5, "connect_timeout": 3, **overrides}

        return settings

    def clear(self) -> None:
        """Delete every port's exchanges and queues (and what is left in them)."""
        host, port = broker_address()
        for hub_id, vhost in self.vhosts.items():
            params = pika.ConnectionParameters(host, port, vhost,
                                               pika.PlainCredentials(USER, PASSWORD),
                                               connection_attempts=1, socket_timeout=5)
            with pika.BlockingConnection(params) as connection:
                channel = connection.channel()
                for queue in (f"porthub.{hub_id}.inbox", f"porthub.{hub_id}.dead"):
                    channel.queue_delete(queue)
                for exchange in (f"porthub.{hub_id}.inbox", f"porthub.{hub_id}.dlx"):
                    channel.exchange_delete(exchange)


@pytest.fixture(scope="session")
def port_vhosts() -> Iterator[dict[str, str]]:
    require_rabbitmq()
    # rabbitmqctl takes most of a second per call: make and delete the vhosts side by side.
    with ThreadPoolExecutor(len(PORTS)) as pool:
        made = {port: pool.submit(create_vhost, f"porthub-test-{port}") for port in PORTS}
    vhosts = {port: future.result() for port, future in made.items() if not future.exception()}
    try:
        for future in made.values():
            future.result()  # the first failure, if any
        yield vhosts
    finally:
        with ThreadPoolExecutor(len(PORTS)) as pool:
            list(pool.map(delete_vhost, vhosts.values()))


@pytest.fixture
def ports(port_vhosts: dict[str, str]) -> Iterator[Ports]:
    """The ports' vhosts, emptied after the test."""
    ports = Ports(port_vhosts)
    try:
        yield ports
    finally:
        ports.clear()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A fault-injecting TCP proxy in front of the broker."""
    with TcpProxy(*broker_address()) as running:
        yield running
