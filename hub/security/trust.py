"""The trust store: consortium CA certificates and their CRLs, and the check of a sender's
certificate against them.

Checking a certificate's signature is the expensive part; its result is cached by the
certificate's fingerprint, so a peer's thousandth message costs a hash and a dict lookup.
The validity window and revocation are checked on every message: they change with time and
with each new CRL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import x25519

from ..errors import ConfigError, Rejected
from .jws import algorithm_of
from .pki import hub_id_of

KEY_AGREEMENT = "X25519"  # CertInfo.algorithm of an encryption (key-agreement) certificate

CACHE_SIZE = 1024
_CRL_BLOCK = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


@dataclass(frozen=True)
class CertInfo:
    """A sender certificate that chains to a trusted CA."""

    hub_id: str
    public_key: Any
    fingerprint: str
    not_before: datetime
    not_after: datetime
    serial: int
    algorithm: str


@dataclass(frozen=True)
class _Trusted:
    info: CertInfo
    ca_index: int


class TrustStore:
    """One or more CA certificates (several during a CA rollover) and a CRL per CA."""

    def __init__(self, ca_pem: bytes, crl_pem: bytes | None = None) -> None:
        try:
            cas = x509.load_pem_x509_certificates(ca_pem)
        except ValueError:
            raise ConfigError("the CA file holds no PEM certificate") from None
        for ca in cas:
            try:
                is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise ConfigError(f"{ca.subject.rfc4514_string()} in the CA file is not a CA "
                                  "certificate")
        self.cas: tuple[x509.Certificate, ...] = tuple(cas)
        # read once: each read of a certificate's validity makes new datetime objects
        self._ca_validity = tuple((ca.not_valid_before_utc, ca.not_valid_after_utc)
                                  for ca in cas)
        self._revoked: dict[int, frozenset[int]] = {}
        self._crl_number: dict[int, int] = {}
        self.crl_next_update: dict[int, datetime | None] = {}
        self._cache: dict[str, _Trusted] = {}
        if crl_pem is not None:
            self.load_crl(crl_pem)

    @classmethod
    def from_files(cls, ca_path: Path, crl_path: Path | None = None) -> "TrustStore":
        def read(path: Path) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}") from None

        return cls(read(ca_path), read(crl_path) if crl_path is not None else None)

    def load_crl(self, pem: bytes) -> None:
        """Take the CRL(s) in ``pem``, replacing the current CRL of each issuing CA.

        A CRL that is not signed by one of the trusted CAs is refused (ConfigError): a
        forged CRL could otherwise un-revoke a certificate. So is one older (by CRL number)
        than the one in use, which would un-revoke what was revoked since. On any refusal
        the CRLs in use stay as they were.
        """
        blocks = _CRL_BLOCK.findall(pem)
        if not blocks:
            raise ConfigError("the CRL file holds no PEM CRL")
        loaded: dict[int, x509.CertificateRevocationList] = {}
        for block in blocks:
            try:
                crl = x509.load_pem_x509_crl(block)
            except ValueError:
                raise ConfigError("the CRL file holds an unreadable CRL") from None
            index = self._issuer_of_crl(crl)
            if _crl_number(crl) < self._crl_number.get(index, -1):
                raise ConfigError(f"the CRL of {crl.issuer.rfc4514_string()} has number "
                                  f"{_crl_number(crl)}, older than the one in use "
                                  f"({self._crl_number[index]})")
            loaded[index] = crl
        for index, crl in loaded.items():
            self._revoked[index] = frozenset(entry.serial_number for entry in crl)
            self._crl_number[index] = _crl_number(crl)
            self.crl_next_update[index] = crl.next_update_utc

    def _issuer_of_crl(self, crl: x509.CertificateRevocationList) -> int:
        for index, ca in enumerate(self.cas):
            if ca.subject == crl.issuer and crl.is_signature_valid(ca.public_key()):
                return index
        raise ConfigError(f"the CRL issued by {crl.issuer.rfc4514_string()} is not signed by "
                          "a trusted CA")

    def certificate(self, der: bytes, now: datetime) -> CertInfo:
        """Check a sender's DER certificate at ``now``; raise ``Rejected`` if it fails."""
        return self._check(der, now, key_agreement=False)

    def encryption_certificate(self, der: bytes, now: datetime) -> CertInfo:
        """Check a hub's encryption (X25519 key-agreement) certificate at ``now``, as
        ``certificate`` checks a signing one; raise ``Rejected`` if it fails."""
        return self._check(der, now, key_agreement=True)

    def _check(self, der: bytes, now: datetime, key_agreement: bool) -> CertInfo:
        fp = hashlib.sha256(der).hexdigest()
        trusted = self._cache.get(fp)
        if trusted is None:
            trusted = self._chain(der, fp)
            if len(self._cache) >= CACHE_SIZE:
                del self._cache[next(iter(self._cache))]  # the oldest entry
            self._cache[fp] = trusted
        info = trusted.info
        ca_from, ca_to = self._ca_validity[trusted.ca_index]
        if (info.algorithm == KEY_AGREEMENT) != key_agreement:
            raise Rejected("untrusted_certificate",
                           f"the certificate of {info.hub_id} is "
                           + ("not an X25519 encryption certificate" if key_agreement
                              else "for key agreement, not for signing"))
        if not info.not_before <= now <= info.not_after:
            raise Rejected("certificate_expired",
                           f"certificate of {info.hub_id} is valid from "
                           f"{info.not_before.isoformat()} to {info.not_after.isoformat()}")
        if not ca_from <= now <= ca_to:
            raise Rejected("certificate_expired",
                           f"the issuing CA certificate is valid from "
                           f"{ca_from.isoformat()} to {ca_to.isoformat()}")
        if info.serial in self._revoked.get(trusted.ca_index, ()):
            raise Rejected("certificate_revoked",
                           f"certificate {info.serial:x} of {info.hub_id} is revoked")
        return info

    def _chain(self, der: bytes, fp: str) -> _Trusted:
        """The expensive, cacheable part: parse, find the issuing CA, check the profile."""
        try:
            cert = x509.load_der_x509_certificate(der)
            index = self._issuing_ca(cert)
            _check_leaf_profile(cert)
            hub_id = hub_id_of(cert)
            public_key = cert.public_key()
            algorithm = KEY_AGREEMENT if isinstance(public_key, x25519.X25519PublicKey) \
                else algorithm_of(public_key)
            return _Trusted(CertInfo(
                hub_id=hub_id, public_key=public_key, fingerprint=fp,
                not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                serial=cert.serial_number, algorithm=algorithm), index)
        except (ValueError, UnsupportedAlgorithm) as exc:
            # Unparsable DER or extensions, an unknown key type, no porthub hub id.
            raise Rejected("untrusted_certificate", f"x5c certificate: {exc}") from None

    def _issuing_ca(self, cert: x509.Certificate) -> int:
        for index, ca in enumerate(self.cas):
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue  # same name, other key: try the next CA (rollover)
            return index
        raise Rejected("untrusted_certificate",
                       f"certificate issued by {cert.issuer.rfc4514_string()} is not signed "
                       "by a trusted CA")


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _check_leaf_profile(cert: x509.Certificate) -> None:
    """A hub certificate is an end-entity certificate allowed to sign or, for an X25519
    key, allowed to agree keys (an encryption certificate; docs/protocol.md §3)."""
    extensions = cert.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise Rejected("untrusted_certificate", "a CA certificate cannot sign messages")
    except x509.ExtensionNotFound:
        pass
    agreement = isinstance(cert.public_key(), x25519.X25519PublicKey)
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if agreement and (usage is None or not usage.key_agreement):
        raise Rejected("untrusted_certificate",
                       "an X25519 certificate must have the keyAgreement key usage")
    if not agreement and usage is not None and not usage.digital_signature:
        raise Rejected("untrusted_certificate",
                       "certificate key usage does not allow digital signatures")
