"""The hub's own identity: its private key and the certificate that binds it to its hub id."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ..errors import ConfigError
from . import jws
from .pki import hub_id_of


class Identity:
    """Signs this hub's messages. The private key never leaves the object, not even in repr."""

    __slots__ = ("hub_id", "algorithm", "cert_der", "not_after", "_signer")

    def __init__(self, private_key: Any, certificate: x509.Certificate) -> None:
        self._signer = jws.signer(private_key)
        self.hub_id: str = hub_id_of(certificate)
        self.algorithm: str = self._signer.alg
        self.cert_der: bytes = certificate.public_bytes(serialization.Encoding.DER)
        self.not_after: datetime = certificate.not_valid_after_utc

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> "Identity":
        """Read the key (unencrypted PKCS#8 PEM) and certificate (PEM); ConfigError if unusable.

        Error messages name the files, never their contents.
        """
        key_data, cert_data = _read(key_path, "key"), _read(cert_path, "certificate")
        try:
            key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(f"{key_path} is not an unencrypted PEM private key") from None
        try:
            cert = x509.load_pem_x509_certificate(cert_data)
        except ValueError:
            raise ConfigError(f"{cert_path} is not a PEM certificate") from None
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise ConfigError(f"the key in {key_path} does not match the certificate {cert_path}")
        try:
            return cls(key, cert)
        except ValueError as exc:
            raise ConfigError(f"{cert_path}: {exc}") from None

    def sign(self, payload: bytes) -> bytes:
        """The flattened JWS of ``payload``, carrying this hub's certificate."""
        return jws.sign(payload, self._signer, self.cert_der)

    def sign_with_digest(self, payload: bytes) -> tuple[bytes, str]:
        """``sign``, and the digest receipts will name (``jws.digest``)."""
        return jws.sign_with_digest(payload, self._signer, self.cert_der)

    def __repr__(self) -> str:
        return f"Identity(hub_id={self.hub_id!r}, algorithm={self.algorithm!r})"


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
