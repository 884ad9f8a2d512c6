"""End-to-end encryption of a hub's messages (docs/security.md): which messages are sealed
(the policy), to which key (each peer's encryption certificate, checked against the CA and
CRL and bound to the peer's hub id), and the keys this hub opens what it receives with.

A message is signed first, then sealed as a JWE (hub/security/jwe.py) for the recipient; the
broker in between sees only the JWE. Sealing happens when the message is written to the
peer's broker, not when it is queued: the outbox keeps the signed message the sender can
read and prove, and a resend after the peer's key changed uses the new key.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from .config import HubConfig
from .envelope import utc
from .errors import ConfigError, NotAcknowledged, Rejected
from .schema import RECEIPT
from .security import jwe, jws
from .security.trust import CertInfo, TrustStore
from .transports.base import Outlet, OutletWrapper

log = logging.getLogger(__name__)

CERT_SUFFIXES = (".crt", ".pem")


@functools.lru_cache(maxsize=1024)  # asked for every message sent and received
def _required(policy: "Policy", type_name: str, peer: str) -> bool:
    if any(fnmatchcase(type_name, pattern) for pattern in policy.types):
        return True
    return any(fnmatchcase(type_name, pattern) and (to == "all" or peer in to)
               for pattern, to in policy.routes)


class CannotEncrypt(NotAcknowledged):
    """No valid encryption certificate of the peer (expired, revoked since): the message
    stays in the outbox and is tried again, like one the broker refused."""


@dataclass(frozen=True)
class Policy:
    """Which (type, peer) pairs are encrypted, both ways: this hub seals them when it sends
    and refuses them in plaintext (``not_encrypted``) when it receives."""

    types: tuple[str, ...] = ()                             # with every peer
    routes: tuple[tuple[str, tuple[str, ...] | str], ...] = ()  # (type pattern, peers | "all")

    @classmethod
    def of(cls, config: HubConfig) -> "Policy":
        return cls(tuple(config.encryption.types),
                   tuple((r.type, r.to if r.to == "all" else tuple(r.to))
                         for r in config.routes if r.encrypt))

    def required(self, type_name: str, peer: str) -> bool:
        # A receipt is sealed to a peer anything is encrypted with, and taken either way.
        if type_name == RECEIPT or not (self.types or self.routes):
            return False
        return _required(self, type_name, peer)

    def with_peer(self, peer: str) -> bool:
        """Whether anything is encrypted with ``peer`` (then its receipts are sealed too)."""
        return bool(self.types) or any(to == "all" or peer in to for _, to in self.routes)


class Encryption:
    """One hub's encryption: built from the configuration beside the running one, swapped
    on reload. ``seal`` and ``open`` are what the links and the verifier call."""

    def __init__(self, policy: Policy, keys: Mapping[str, x25519.X25519PrivateKey],
                 peer_certs: Mapping[str, Sequence[bytes]], trust: TrustStore,
                 clock: Callable[[], float] = time.time,
                 own_expiry: datetime | None = None) -> None:
        self.policy = policy
        self.keys = dict(keys)            # kid (RFC 7638 thumbprint) -> private key
        self.peer_certs = {peer: tuple(ders) for peer, ders in peer_certs.items()}
        self.trust = trust
        self.clock = clock
        self.own_expiry = own_expiry      # when this hub's encryption certificate expires

    @classmethod
    def load(cls, config: HubConfig, trust: TrustStore,
             clock: Callable[[], float] = time.time) -> "Encryption":
        """Read the keys and the peers' certificates named in ``config``; ``ConfigError`` if
        a key is unusable or a peer that needs encryption has no valid certificate."""
        section, now = config.encryption, utc(clock())
        keys, own_expiry = {}, None
        if section.key is not None:
            current = _load_key(section.key)
            own_expiry = _check_own_certificate(section.cert, current, config.hub.id, trust,
                                                now).not_after
            for path in [section.key, *section.previous_keys]:
                key = current if path == section.key else _load_key(path)
                keys[jwe.thumbprint(key.public_key())] = key
        policy = Policy.of(config)
        found = _peer_certificates(config, trust, now)
        for peer in config.peers:
            if policy.with_peer(peer) and not found.get(peer):
                where = config.peers[peer].encryption_cert or section.peer_certs
                raise ConfigError(f"encryption: peer {peer} has no valid encryption certificate "
                                  f"(looked in {where or 'nothing: set encryption.peer_certs'})"
                                  ", but messages to it must be encrypted")
        return cls(policy, keys, found, trust, clock, own_expiry)

    def peer_expiries(self) -> dict[str, datetime]:
        """When the encryption certificate each peer's messages are sealed with expires
        (``porthub check`` warns ahead, as for ``own_expiry``)."""
        found = {}
        for peer in self.peer_certs:
            try:
                found[peer] = self._certificate(peer).not_after
            except CannotEncrypt:
                continue  # said when a message is to be sealed
        return found

    # -- receiving -------------------------------------------------------------------------
    def required(self, type_name: str, peer: str) -> bool:
        return self.policy.required(type_name, peer)

    def open(self, data: bytes) -> bytes:
        """The signed message inside a JWE; ``Rejected`` (malformed, undecryptable)."""
        parsed = jwe.parse(data)
        if not self.keys:
            raise Rejected("undecryptable", "this hub holds no decryption key")
        return jwe.open_sealed(parsed, self.keys)

    # -- sending ---------------------------------------------------------------------------
    def recipient_key(self, peer: str) -> x25519.X25519PublicKey:
        """The peer's encryption key; ``CannotEncrypt`` if it has no valid certificate."""
        return self._certificate(peer).public_key

    def _certificate(self, peer: str) -> CertInfo:
        """The peer's newest encryption certificate valid now: expiry and the current CRL
        are checked at every use."""
        now, problems = utc(self.clock()), []
        for der in self.peer_certs.get(peer, ()):
            try:
                return self.trust.encryption_certificate(der, now)
            except Rejected as exc:
                problems.append(f"{exc.reason}: {exc.detail}")
        raise CannotEncrypt(f"no valid encryption certificate of {peer}"
                            + (f" ({'; '.join(problems)})" if problems else ""))

    def check_recipients(self, type_name: str, peers: Iterable[str]) -> None:
        """Raise ``CannotEncrypt`` now if a message of ``type_name`` could not be sealed for
        one of ``peers`` (submit refuses it rather than queueing what cannot go out)."""
        for peer in peers:
            if self.policy.required(type_name, peer):
                self.recipient_key(peer)

    def seal(self, peer: str, signed: bytes) -> bytes:
        """The wire form of ``signed`` for ``peer``: a JWE where the policy asks for it
        (receipts are sealed for every peer anything is encrypted with), else as it is."""
        if not self.policy.with_peer(peer):
            return signed
        type_name = json.loads(jws.parse(signed).payload)["type"]
        if type_name != RECEIPT and not self.policy.required(type_name, peer):
            return signed
        return jwe.seal(signed, self.recipient_key(peer))


class SealingOutlet(OutletWrapper):
    """An outlet that seals what it writes, as the hub's current encryption says."""

    def __init__(self, outlet: Outlet, seal: Callable[[bytes], bytes]) -> None:
        super().__init__(outlet)
        self.seal = seal

    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        await self.outlet.write(self.seal(body), message_id)


def _load_key(path: Path) -> x25519.X25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the encryption key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, x25519.X25519PrivateKey):
        raise ConfigError(f"{path} is not an X25519 key: make one with "
                          "'porthub pki issue HUB_ID --encryption'")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the certificate file {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{path} is not a PEM certificate") from None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _check_own_certificate(path: Path, key: x25519.X25519PrivateKey, hub_id: str,
                           trust: TrustStore, now) -> CertInfo:
    cert = _load_cert(path)
    if cert.public_key().public_bytes_raw() != key.public_key().public_bytes_raw():
        raise ConfigError(f"encryption.cert {path} is not the certificate of encryption.key")
    info = _trusted(trust, _der(cert), now, path)
    if info.hub_id != hub_id:
        raise ConfigError(f"encryption.cert {path} is for hub {info.hub_id!r}, not {hub_id!r}")
    return info


def _trusted(trust: TrustStore, der: bytes, now, path: Path) -> CertInfo:
    try:
        return trust.encryption_certificate(der, now)
    except Rejected as exc:
        raise ConfigError(f"{path}: {exc.reason}: {exc.detail}") from None


def _peer_certificates(config: HubConfig, trust: TrustStore, now) -> dict[str, list[bytes]]:
    """Each peer's valid encryption certificates, newest first: the one named in its
    ``encryption_cert`` (which must be valid), else those for its hub id in ``peer_certs``
    (the others there -- expired, revoked, a signing certificate -- are passed over)."""
    found: dict[str, list[tuple[CertInfo, bytes]]] = {}
    folder = config.encryption.peer_certs
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError(f"encryption.peer_certs {folder} is not a folder")
        for path in sorted(p for p in folder.iterdir() if p.suffix in CERT_SUFFIXES):
            der = _der(_load_cert(path))
            try:
                info = trust.encryption_certificate(der, now)
            except Rejected as exc:
                log.info("passing over %s: %s: %s", path, exc.reason, exc.detail)
                continue
            found.setdefault(info.hub_id, []).append((info, der))
    for peer, settings in config.peers.items():
        if settings.encryption_cert is not None:
            der = _der(_load_cert(settings.encryption_cert))
            info = _trusted(trust, der, now, settings.encryption_cert)
            if info.hub_id != peer:
                raise ConfigError(f"peers.{peer}.encryption_cert {settings.encryption_cert} is "
                                  f"for hub {info.hub_id!r}")
            found[peer] = [(info, der)]
    return {peer: [der for _, der in sorted(certs, key=lambda c: c[0].not_before, reverse=True)]
            for peer, certs in found.items() if peer in config.peers}
