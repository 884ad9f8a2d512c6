"""The receive checks, in the order of docs/protocol.md, each with its stable reason code.

The order is part of the protocol: cheap checks that need no trust come first, and nothing
about a message is believed before its signature is verified. An encrypted message (a JWE)
is opened right after the size check; every other check runs on the signed message inside.
A failure up to and including ``bad_signature`` is not answered (that would reflect forged
traffic); a failure after it carries the ``Verified`` message, so the core may send a
negative receipt to its authenticated sender. ``duplicate`` and ``schema_invalid`` are
checked by the core after these.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable, Mapping, Protocol, Sequence

from .envelope import Envelope, utc
from .errors import Rejected
from .security import jwe, jws
from .security.trust import CertInfo, TrustStore

REASONS = (
    "too_large",
    "malformed",
    "undecryptable",
    "unknown_sender",
    "untrusted_certificate",
    "certificate_expired",
    "certificate_revoked",
    "certificate_mismatch",
    "bad_signature",
    "wrong_recipient",
    "type_not_allowed",
    "not_encrypted",
    "expired",
    "clock_skew",
    "duplicate",
    "schema_invalid",
)
RECEIPT_TYPE = "hub.receipt"  # every peer may send receipts, whatever its type patterns


@functools.lru_cache(maxsize=4096)  # asked for every message received
def _may_send(patterns: tuple[str, ...], type_name: str) -> bool:
    """Whether a type matches one of a sender's patterns (keyed by the patterns themselves,
    so new patterns after a reload are asked afresh)."""
    return any(fnmatchcase(type_name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Verified:
    """A message whose signature was verified with a trusted certificate of its sender."""

    envelope: Envelope
    jws: bytes          # the signed message (opened, if it came encrypted)
    digest: str
    cert: CertInfo


class Decryption(Protocol):
    """What the verifier needs of the hub's encryption (hub/encryption.py)."""

    def open(self, data: bytes) -> bytes:
        """The signed message inside a JWE; raise ``Rejected`` if it cannot be opened."""

    def required(self, type_name: str, peer: str) -> bool:
        """Whether messages of ``type_name`` from ``peer`` must come encrypted."""


class _NoDecryption:
    def open(self, data: bytes) -> bytes:
        jwe.parse(data)  # malformed comes before undecryptable, as with keys
        raise Rejected("undecryptable", "this hub holds no decryption key")

    def required(self, type_name: str, peer: str) -> bool:
        return False


class Verifier:
    """Runs the receive checks for hub ``hub_id``.

    ``peers`` maps each known sender to the fnmatch patterns of the types it may send.
    ``decryption`` opens encrypted messages and says which must come encrypted. ``trust``,
    ``peers`` and ``decryption`` may be replaced at any time (on reload, or on a new CRL).
    """

    def __init__(self, hub_id: str, trust: TrustStore, peers: Mapping[str, Sequence[str]],
                 max_bytes: int = 1_048_576, clock_skew: float = 300.0,
                 clock: Callable[[], float] = time.time,
                 decryption: Decryption | None = None) -> None:
        self.hub_id = hub_id
        self.decryption = decryption or _NoDecryption()
        self.trust = trust
        self.peers = peers
        self.max_bytes = max_bytes
        self.clock_skew = clock_skew
        self.clock = clock

    @property
    def peers(self) -> dict[str, tuple[str, ...]]:
        return self._peers

    @peers.setter
    def peers(self, peers: Mapping[str, Sequence[str]]) -> None:
        for sender, patterns in peers.items():
            if isinstance(patterns, str):  # a bare string would be read as one pattern a char
                raise TypeError(f"type patterns of {sender} must be a list, not a string")
        self._peers = {sender: tuple(patterns) for sender, patterns in peers.items()}

    def verify(self, data: bytes) -> Verified:
        """Return the verified message or raise ``Rejected`` with the first failed check."""
        if len(data) > self.max_bytes:
            raise Rejected("too_large", f"{len(data)} bytes, the limit is {self.max_bytes}")
        encrypted = jwe.looks_encrypted(data)
        if encrypted:
            data = self.decryption.open(data)
        parsed = jws.parse(data)
        envelope = Envelope.from_dict(jws.strict_json(parsed.payload, "payload"))
        sender, message_id = envelope.sender, envelope.id

        def reject(reason: str, detail: str, verified: Verified | None = None) -> Rejected:
            return Rejected(reason, detail, sender=sender, message_id=message_id,
                            verified=verified)

        if sender not in self._peers:
            raise reject("unknown_sender", f"{sender} is not a configured peer")
        now = utc(self.clock())
        try:
            cert = self.trust.certificate(parsed.cert_der, now)
        except Rejected as exc:
            raise reject(exc.reason, exc.detail) from None
        if cert.hub_id != sender:
            raise reject("certificate_mismatch",
                         f"message from {sender} carries the certificate of {cert.hub_id}")
        if not jws.verify_signature(parsed, cert.public_key, cert.algorithm):
            raise reject("bad_signature", f"{parsed.alg} signature does not verify")

        verified = Verified(envelope=envelope, jws=data, digest=jws.digest(parsed), cert=cert)
        if envelope.to != self.hub_id:
            raise reject("wrong_recipient", f"addressed to {envelope.to}, this is {self.hub_id}",
                         verified)
        if envelope.type != RECEIPT_TYPE and not _may_send(self._peers[sender], envelope.type):
            raise reject("type_not_allowed", f"{sender} may not send {envelope.type}", verified)
        if not encrypted and self.decryption.required(envelope.type, sender):
            raise reject("not_encrypted", f"{envelope.type} from {sender} must come encrypted",
                         verified)
        if envelope.expires <= now:
            raise reject("expired", f"expired at {envelope.expires.isoformat()}", verified)
        if (envelope.created - now).total_seconds() > self.clock_skew:
            raise reject("clock_skew", f"created {envelope.created.isoformat()}, more than "
                         f"{self.clock_skew:g} s ahead of this hub's clock", verified)
        return verified
