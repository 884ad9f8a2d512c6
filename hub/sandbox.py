"""A complete network of hubs in one folder: consortium CA, a certificate per hub and one
configuration file per hub. ``porthub demo`` runs on it; so do the multi-hub tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from .config import HubConfig, load_config
from .security import pki

# Which types each kind of port sends, by the consortium's agreement (demo and tests).
DEFAULT_POLICY: dict[str, list[str]] = {"*": ["*"]}


@dataclass
class Sandbox:
    root: Path
    ca_dir: Path
    config_paths: dict[str, Path] = field(default_factory=dict)

    def config(self, hub_id: str) -> HubConfig:
        return load_config(self.config_paths[hub_id])

    @property
    def peer_certs(self) -> Path:
        """The folder every hub finds its peers' encryption certificates in."""
        return self.root / "peer-certs"

    def issue_encryption(self, hub_id: str, folder: str = "enc", **kw: Any
                         ) -> tuple[Path, Path]:
        """Issue ``hub_id`` an encryption certificate in ``<hub>/<folder>`` and publish it to
        its peers (``peer_certs``); return (certificate, key)."""
        cert, key = pki.issue(self.ca_dir, hub_id, self.root / hub_id / folder,
                              encryption=True, **kw)
        self.peer_certs.mkdir(exist_ok=True)
        shutil.copy(cert, self.peer_certs / f"{hub_id}-{folder}.crt")
        return cert, key


def build_sandbox(root: Path, hub_ids: Sequence[str],
                  inbox_for: Callable[[str], dict[str, Any]],
                  policy: Mapping[str, Sequence[str]] | None = None,
                  routes: Mapping[str, list[dict[str, Any]]] | None = None,
                  extra: Mapping[str, Any] | None = None,
                  encrypted_types: Sequence[str] = ()) -> Sandbox:
    """Make the CA, issue every hub's certificate and write ``<root>/<hub>/porthub.yaml``.

    ``inbox_for(hub)`` gives the transport settings of that hub's inbox; peers write to it
    with the same settings. ``policy`` maps a sender (or ``*``) to the type patterns it may
    send. ``extra`` is merged into every configuration (limits, retry). With
    ``encrypted_types`` every hub also gets an encryption certificate, and those types are
    encrypted end to end between all of them."""
    root = Path(root)
    ca_dir = root / "ca"
    pki.init_ca(ca_dir)
    crl = pki.make_crl(ca_dir, ca_dir / "ca.crl")
    policy = dict(policy or DEFAULT_POLICY)
    sandbox = Sandbox(root, ca_dir)
    for hub_id in hub_ids:
        hub_dir = root / hub_id
        cert, key = pki.issue(ca_dir, hub_id, hub_dir / "tls")
        config = {
            "hub": {"id": hub_id, "data_dir": str(hub_dir / "data"), "key": str(key),
                    "cert": str(cert), "ca": str(ca_dir / "ca.crt"), "crl": str(crl)},
            "inbox": inbox_for(hub_id),
            "peers": {
                peer: {"transport": inbox_for(peer),
                       "may_send": list(policy.get(peer, policy.get("*", [])))}
                for peer in hub_ids if peer != hub_id},
            "routes": list((routes or {}).get(hub_id, [])),
            "http": {"listen": "127.0.0.1:0"},  # many hubs on one machine: any free port
            **dict(extra or {}),
        }
        if encrypted_types:
            enc_cert, enc_key = sandbox.issue_encryption(hub_id)
            config["encryption"] = {"key": str(enc_key), "cert": str(enc_cert),
                                    "peer_certs": str(sandbox.peer_certs),
                                    "types": list(encrypted_types)}
        path = hub_dir / "porthub.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        sandbox.config_paths[hub_id] = path
    return sandbox
