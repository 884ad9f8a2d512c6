"""Hubs talking through real Mosquitto brokers, each port with a private ``mosquitto`` of its
own on a free loopback port (tests/support/mosquitto.py), reached directly or through a
fault-injecting proxy (tests/support/tcpproxy.py). A missing broker binary fails these tests.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pytest

from tests.support.mosquitto import Mosquitto, mosquitto_factory  # noqa: F401 (fixture)
from tests.support.tcpproxy import TcpProxy


class MqttPorts:
    """Each port's Mosquitto, and the settings its hub's inbox (and its peers) use to reach it."""

    def __init__(self, factory: Callable[..., Mosquitto]) -> None:
        self._factory = factory
        self.brokers: dict[str, Mosquitto] = {}
        self.proxies: dict[str, TcpProxy] = {}

    def add(self, hub_id: str, *, proxied: bool = False, persistence: bool = True,
            extra: Iterable[str] = ()) -> Mosquitto:
        """Start ``hub_id``'s broker (Mosquitto's default limits unless ``extra`` lines change
        them); with ``proxied``, its hub and the peers reach it through a proxy of its own."""
        broker = self._factory(persistence=persistence, extra=extra)
        self.brokers[hub_id] = broker
        if proxied:
            self.proxies[hub_id] = TcpProxy(broker.host, broker.port)
        return broker

    def settings(self, hub_id: str, **overrides: Any) -> dict[str, Any]:
        """The ``mqtt`` transport settings of ``hub_id``'s inbox."""
        proxy = self.proxies.get(hub_id)
        host, port = proxy.address if proxy else (self.brokers[hub_id].host,
                                                  self.brokers[hub_id].port)
        return {"kind": "mqtt", "host": host, "port": port, "connect_timeout": 3,
                **overrides}

    def inbox_for(self, **overrides: Any) -> Callable[[str], dict[str, Any]]:
        """``inbox_for(hub)`` for ``Network``: every port's inbox on its own broker."""
        return lambda hub_id: self.settings(hub_id, **overrides)

    def dropped(self, hub_id: str) -> int:
        """How often ``hub_id``'s broker logged that it dropped messages over its queue limit
        (Mosquitto logs the first drop of a run of drops, not each message)."""
        return self.brokers[hub_id].log().count("Outgoing messages are being dropped")

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()


@pytest.fixture
def mqtt_ports(mosquitto_factory: Callable[..., Mosquitto]) -> Iterator[MqttPorts]:  # noqa: F811
    """Brokers added by the test; proxies closed and brokers killed after it."""
    ports = MqttPorts(mosquitto_factory)
    try:
        yield ports
    finally:
        ports.close()
