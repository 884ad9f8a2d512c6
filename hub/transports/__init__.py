"""Transports, registered by kind and imported lazily.

A broken optional dependency of one transport (say paho) cannot stop a hub that does not use
it from starting.
"""

from __future__ import annotations

import difflib
import importlib

from ..errors import ConfigError
from .base import Delivery, Inbox, Outlet, TransportKind, TransportSettings

KINDS: dict[str, str] = {
    "memory": "hub.transports.memory",
    "amqp": "hub.transports.amqp",
    "mqtt": "hub.transports.mqtt",
}


def load(kind: str) -> TransportKind:
    """Return the ``TransportKind`` registered as ``kind``."""
    module_name = KINDS.get(kind)
    if module_name is None:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(sorted(KINDS))}."
        raise ConfigError(f"No such transport: {kind!r}.{hint}")
    return importlib.import_module(module_name).KIND


__all__ = ["Delivery", "Inbox", "Outlet", "TransportKind", "TransportSettings", "load", "KINDS"]
