"""Transports, registered by kind and imported lazily.

A broken optional dependency of one transport (say paho) cannot stop a hub that does not use
it from starting.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Delivery, Inbox, Outlet, TransportKind, TransportSettings
from ..names import did_you_mean

KINDS: dict[str, str] = {
    "memory": "hub.transports.memory",
    "amqp": "hub.transports.amqp",
    "mqtt": "hub.transports.mqtt",
}


def load(kind: str) -> TransportKind:
    """Return the ``TransportKind`` registered as ``kind``."""
    module_name = KINDS.get(kind)
    if module_name is None:
        raise ConfigError(f"No such transport: {kind!r}.{did_you_mean(kind, KINDS)}")
    return importlib.import_module(module_name).KIND


__all__ = ["Delivery", "Inbox", "Outlet", "TransportKind", "TransportSettings", "load", "KINDS"]
