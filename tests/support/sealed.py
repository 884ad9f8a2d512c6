"""Hubs with end-to-end encryption on, for the tests: an encryption certificate per hub, a
shared folder of the peers' certificates, a record of the bytes the brokers were given, and
the reload a SIGHUP does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from hub.daemon import Daemon
from hub.security import jwe, jws
from hub.transports import memory
from tests.support.network import Network


def configure(net: Network, hub_id: str, **sections: Any) -> None:
    """Merge ``sections`` (top-level keys; ``hub`` is merged key by key) into a hub's file."""
    path = net.sandbox.config_paths[hub_id]
    config = yaml.safe_load(path.read_text())
    for name, value in sections.items():
        if name == "hub":
            config["hub"].update(value)
        else:
            config[name] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def encrypt(net: Network, types: list[str], hubs: list[str] | None = None) -> None:
    """Give every hub (or ``hubs``) an encryption certificate; ``types`` are encrypted."""
    for hub_id in hubs or list(net.sandbox.config_paths):
        cert, key = net.sandbox.issue_encryption(hub_id)
        configure(net, hub_id, encryption={"key": str(key), "cert": str(cert),
                                           "peer_certs": str(net.sandbox.peer_certs),
                                           "types": types})


async def sighup(net: Network, hub_id: str) -> bool:
    """What SIGHUP does: the daemon reads the file again and swaps if it is valid."""
    running = Daemon(net.sandbox.config_paths[hub_id])
    running.hub = net.hubs[hub_id]
    return await running.reload()


def record_wire(monkeypatch) -> list[tuple[str, bytes]]:
    """Every (queue, bytes) the in-memory brokers are given from now on."""
    seen: list[tuple[str, bytes]] = []
    publish = memory.MemoryBroker.publish

    def recording(self, queue: str, body: bytes) -> None:
        seen.append((queue, body))
        publish(self, queue, body)

    monkeypatch.setattr(memory.MemoryBroker, "publish", recording)
    return seen


def sealed_header(data: bytes) -> dict:
    """The protected header of a JWE on the wire (what a broker operator can read)."""
    return json.loads(jws.b64url_decode(json.loads(data)["protected"], "protected"))


def kid_of(cert: Path) -> str:
    """The ``kid`` of messages sealed for the key of the encryption certificate ``cert``."""
    return jwe.thumbprint(x509.load_pem_x509_certificate(cert.read_bytes()).public_key())
