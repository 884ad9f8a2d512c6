"""The example configurations in config/, one per port: each passes ``porthub check`` with
real keys and certificates from a consortium CA and the folders and secrets it names (moved
under a temporary folder), and the five agree with each other: peers know each other, every
peer's transport points at that peer's inbox, every route sends what its recipients' policies
allow and their adapters take, and the consortium's agreement is the same everywhere -- and
the same as the demo's."""

from __future__ import annotations

import shutil
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import yaml

from hub import demo
from hub.cli import main
from hub.config import HubConfig, validate_config
from hub.schema import RECEIPT, schemas
from hub.security import pki

CONFIG = Path(__file__).parents[2] / "config"
PORTS = ["aktau", "baku", "kuryk", "samsun", "turkmenbashi"]
FOLDERS = ("inbox_dir", "outbox_dir", "work_dir")


def load(port: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIG / f"{port}.yaml").read_text())


def configs() -> dict[str, HubConfig]:
    return {port: validate_config(load(port), f"{port}.yaml") for port in PORTS}


def secrets(node: Any) -> Iterator[dict]:
    """Every secret reference ({env: ...} or {file: ...}) in a configuration."""
    if isinstance(node, dict):
        if set(node) in ({"env"}, {"file"}, {"value"}):
            yield node
        else:
            for value in node.values():
                yield from secrets(value)
    elif isinstance(node, list):
        for value in node:
            yield from secrets(value)


def moved(node: Any, root: Path) -> Any:
    """The configuration with every absolute path moved under ``root``."""
    if isinstance(node, dict):
        return {k: moved(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [moved(v, root) for v in node]
    if isinstance(node, str) and node.startswith("/"):
        return str(root / node.lstrip("/"))
    return node


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_dir = tmp_path_factory.mktemp("ca")
    pki.init_ca(ca_dir)
    pki.make_crl(ca_dir, ca_dir / "ca.crl")
    return ca_dir


@pytest.mark.parametrize("port", PORTS)
def test_each_example_passes_porthub_check(port: str, ca: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Given the port's machine as its file describes it -- key and certificate issued by the
    consortium CA, its encryption key and certificate and those of its peers, the CA and its
    CRL, the local systems' folders, the secret files and environment variables --
    ``porthub check`` exits 0 and names every adapter."""
    original = load(port)
    assert not any("value" in ref for ref in secrets(original)), "a secret is written inline"
    config = moved(original, tmp_path)
    hub = config["hub"]
    cert, key = pki.issue(ca, port, Path(hub["key"]).parent)
    assert (cert, key) == (Path(hub["cert"]), Path(hub["key"]))
    encryption = config["encryption"]
    cert, key = pki.issue(ca, port, Path(encryption["key"]).parent, encryption=True)
    assert (cert, key) == (Path(encryption["cert"]), Path(encryption["key"]))
    for peer in config["peers"]:  # what every other port gave this one
        pki.issue(ca, peer, Path(encryption["peer_certs"]), encryption=True)
    shutil.copy(ca / "ca.crt", hub["ca"])
    shutil.copy(ca / "ca.crl", hub["crl"])
    for settings in config["adapters"].values():
        for key_name in FOLDERS:
            if key_name in settings:
                Path(settings[key_name]).mkdir(parents=True)
    for ref in secrets(config):
        if "file" in ref:
            Path(ref["file"]).parent.mkdir(parents=True, exist_ok=True)
            Path(ref["file"]).write_text("not-a-real-secret\n")
        else:
            monkeypatch.setenv(ref["env"], "not-a-real-secret")
    path = tmp_path / "porthub.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    code = main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"certificate of {port} valid" in out
    assert "encryption: 1 decryption key(s); encryption certificates of " in out
    for name, settings in original["adapters"].items():
        assert f"ok       adapter {name} ({settings['kind']})" in out


def test_peers_know_each_other_and_write_to_each_others_inbox() -> None:
    """Every port lists every other one, and the transport it uses for a peer reaches that
    peer's own inbox: the same broker and vhost (AMQP) or broker and topic (MQTT)."""
    hubs = configs()
    for port, config in hubs.items():
        assert sorted(config.peers) == sorted(set(PORTS) - {port}), port
        for peer, settings in config.peers.items():
            assert target(settings.transport, peer) == target(hubs[peer].inbox, peer), \
                f"{port}'s transport for {peer} does not reach {peer}'s inbox"
            assert settings.transport.username == f"peer-{port}"


def target(transport: Any, owner: str) -> tuple:
    """Where a transport delivers messages for ``owner``'s inbox."""
    if transport.kind == "amqp":
        url = urlsplit(transport.url)
        return ("amqp", url.scheme, url.hostname, url.port, transport.vhost or url.path,
                transport.exchange)
    return ("mqtt", transport.host, transport.port, bool(transport.tls),
            transport.topic_for(owner))


def caught(config: HubConfig, type_name: str) -> list[str]:
    """The peers a message of ``type_name`` goes to by ``config``'s routes (first match)."""
    for route in config.routes:
        if fnmatchcase(type_name, route.type):
            return sorted(config.peers) if route.to == "all" else list(route.to)
    return []


def test_routes_send_only_what_the_recipients_accept_and_take() -> None:
    """For every type and every route: each recipient's policy lets the sender send it, and
    one of the recipient's adapters receives it (or it would be dead-lettered there)."""
    hubs = configs()
    types = [t for t in schemas().types if t != RECEIPT]
    sent = 0
    for port, config in hubs.items():
        for type_name in types:
            for peer in caught(config, type_name):
                receiver = hubs[peer]
                allowed = receiver.peers[port].may_send
                assert any(fnmatchcase(type_name, p) for p in allowed), \
                    f"{port} routes {type_name} to {peer}, whose policy refuses it"
                assert any(fnmatchcase(type_name, p) for a in receiver.adapters.values()
                           for p in a.receives), \
                    f"{port} routes {type_name} to {peer}, where no adapter receives it"
                sent += 1
    assert sent > 40


def test_the_consortium_agreement_is_the_same_everywhere_and_in_the_demo() -> None:
    """What each port may send, and which types are encrypted, is agreed once: every other
    port's file says the same, and the demo runs on this agreement and these routes."""
    hubs = configs()
    assert {tuple(config.encryption.types) for config in hubs.values()} == \
        {tuple(demo.ENCRYPTED)}
    for sender in PORTS:
        agreed = {tuple(hubs[p].peers[sender].may_send) for p in PORTS if p != sender}
        assert agreed == {tuple(demo.POLICY[sender])}, sender
        assert load(sender)["routes"] == demo.ROUTES[sender], sender
