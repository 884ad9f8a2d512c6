"""The consortium PKI: the Secretariat's CA, hub certificates, revocation and the CRL.

A CA directory holds ``ca.key`` (mode 0600), ``ca.crt``, ``issued.json`` (every certificate
issued, public data only) and ``revoked.json`` (the revocations the CRL is made from).
Certificates follow the profile of docs/protocol.md: a hub's id is bound by the subject
alternative name URI ``urn:porthub:hub:<hub id>``, which is what receivers check.

Private keys are written once, with mode 0600 from the moment the file exists, and are never
printed, logged or put into an error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..envelope import HUB_ID, format_time, parse_time
from ..errors import PermanentError

HUB_URI_PREFIX = "urn:porthub:hub:"
ORGANIZATION = "porthub"
CA_KEY, CA_CERT, ISSUED, REVOKED = "ca.key", "ca.crt", "issued.json", "revoked.json"
ALGORITHMS = ("ed25519", "p256")
ENCRYPTION_SUFFIX = "-enc"  # <hub id>-enc.crt / .key: the hub's encryption certificate and key
REASONS = tuple(r.value for r in x509.ReasonFlags if r is not x509.ReasonFlags.remove_from_crl)
# Issued certificates start a little in the past, so a peer whose clock is slightly behind
# does not see a brand-new certificate as "not yet valid".
BACKDATE = timedelta(minutes=5)


class PKIError(PermanentError):
    """A PKI operation cannot be done; the message says what to do instead."""


def hub_uri(hub_id: str) -> str:
    return HUB_URI_PREFIX + hub_id


def hub_id_of(cert: x509.Certificate) -> str:
    """The hub id bound in ``cert``: its one ``urn:porthub:hub:`` SAN URI; ValueError if none."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValueError("certificate has no subject alternative name") from None
    ids = [uri[len(HUB_URI_PREFIX):] for uri in san.get_values_for_type(
        x509.UniformResourceIdentifier) if uri.startswith(HUB_URI_PREFIX)]
    if len(ids) != 1:
        raise ValueError(f"certificate must name exactly one {HUB_URI_PREFIX}<id> URI, "
                         f"it names {len(ids)}")
    if not HUB_ID.match(ids[0]):
        raise ValueError(f"certificate names an invalid hub id {ids[0]!r}")
    return ids[0]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM or DER file; PKIError if it is neither."""
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise PKIError(f"{path} is not a certificate (PEM or DER)") from None


def init_ca(ca_dir: Path, name: str = "porthub consortium CA", days: int = 3650) -> Path:
    """Create the consortium CA in ``ca_dir``; return the path of ``ca.crt``.

    Refuses to touch a directory that already holds a CA: overwriting the CA key would
    invalidate every certificate issued so far.
    """
    ca_dir = Path(ca_dir)
    if (ca_dir / CA_KEY).exists() or (ca_dir / CA_CERT).exists():
        raise PKIError(f"{ca_dir} already holds a CA; refusing to overwrite it")
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_new_serial())
        .not_valid_before(now - BACKDATE).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, None)
    )
    _write_private_key(ca_dir / CA_KEY, key)
    _write_atomic(ca_dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    _save_json(ca_dir / ISSUED, {"issued": []})
    _save_json(ca_dir / REVOKED, {"crl_number": 0, "revoked": []})
    return ca_dir / CA_CERT


def issue(ca_dir: Path, hub_id: str, out_dir: Path, days: int = 825,
          algorithm: str = "ed25519", not_before: datetime | None = None,
          not_after: datetime | None = None, encryption: bool = False) -> tuple[Path, Path]:
    """Issue a key and certificate for ``hub_id``; return the paths (certificate, key).

    ``not_before``/``not_after`` override the validity window (tests use them to make
    expired certificates); otherwise it starts now and lasts ``days``. ``encryption`` issues
    the hub's second certificate instead: an X25519 key-agreement key that peers seal
    messages to (``<hub id>-enc.crt``, key usage keyAgreement only; ``algorithm`` is unused).
    """
    if not isinstance(hub_id, str) or not HUB_ID.match(hub_id):
        raise PKIError(f"invalid hub id {hub_id!r}: lower-case letters, digits and '-', "
                       "2 to 32 characters, starting with a letter")
    if algorithm not in ALGORITHMS:
        raise PKIError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    ca_key, ca_cert = _load_ca(Path(ca_dir))
    out_dir = Path(out_dir)
    stem = hub_id + (ENCRYPTION_SUFFIX if encryption else "")
    cert_path, key_path = out_dir / f"{stem}.crt", out_dir / f"{stem}.key"
    if key_path.exists() or cert_path.exists():
        raise PKIError(f"{key_path} or {cert_path} already exists; refusing to overwrite it")
    if encryption:
        key, algorithm = x25519.X25519PrivateKey.generate(), "x25519"
    else:
        key = (ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519"
               else ec.generate_private_key(ec.SECP256R1()))
    usage = _key_usage(key_agreement=True) if encryption else _key_usage(digital_signature=True)
    start = not_before or _now() - BACKDATE
    end = not_after or start + timedelta(days=days)
    if end <= start:
        raise PKIError("the certificate would expire before it becomes valid")
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hub_id),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_new_serial())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True))
    if not encryption:  # a key-agreement key cannot authenticate a TLS client
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = (
        builder
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
            hub_uri(hub_id))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, None)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_private_key(key_path, key)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    issued = _load_json(Path(ca_dir) / ISSUED)
    issued["issued"].append({
        "serial": f"{cert.serial_number:x}", "hub_id": hub_id, "algorithm": algorithm,
        "not_before": format_time(start), "not_after": format_time(end),
        "fingerprint": fingerprint(cert)})
    _save_json(Path(ca_dir) / ISSUED, issued)
    return cert_path, key_path


def revoke(ca_dir: Path, certificate: int | Path, reason: str = "keyCompromise") -> int:
    """Record the revocation of a certificate (by serial or file); return its serial.

    The certificate must have been issued by this CA. Revoking it again keeps the first
    record. The revocation takes effect for peers once a new CRL is made and distributed.
    """
    if reason not in REASONS:
        raise PKIError(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    ca_dir = Path(ca_dir)
    _, ca_cert = _load_ca(ca_dir)
    if isinstance(certificate, int):
        serial = certificate
    else:
        cert = load_certificate(Path(certificate))
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise PKIError(f"{certificate} was not issued by the CA in {ca_dir}") from None
        serial = cert.serial_number
    hex_serial = f"{serial:x}"
    if hex_serial not in {entry["serial"] for entry in _load_json(ca_dir / ISSUED)["issued"]}:
        raise PKIError(f"serial {hex_serial} was not issued by the CA in {ca_dir}")
    revoked = _load_json(ca_dir / REVOKED)
    if hex_serial not in {entry["serial"] for entry in revoked["revoked"]}:
        revoked["revoked"].append(
            {"serial": hex_serial, "reason": reason, "revoked_at": format_time(_now())})
        _save_json(ca_dir / REVOKED, revoked)
    return serial


def make_crl(ca_dir: Path, out: Path, days: int = 7) -> Path:
    """Write a CRL (PEM) of every revoked serial, signed by the CA, valid for ``days``."""
    ca_dir = Path(ca_dir)
    ca_key, ca_cert = _load_ca(ca_dir)
    state = _load_json(ca_dir / REVOKED)
    state["crl_number"] += 1
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now).next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
    )
    for entry in state["revoked"]:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry["serial"], 16))
            .revocation_date(parse_time(entry["revoked_at"]))
            .add_extension(x509.CRLReason(x509.ReasonFlags(entry["reason"])), critical=False)
            .build())
    crl = builder.sign(ca_key, None)
    out = Path(out)
    _write_atomic(out, crl.public_bytes(serialization.Encoding.PEM))
    _save_json(ca_dir / REVOKED, state)
    return out


def _load_ca(ca_dir: Path) -> tuple[Any, x509.Certificate]:
    if not (ca_dir / CA_KEY).exists():
        raise PKIError(f"no CA in {ca_dir}: create one with 'porthub pki init-ca --dir {ca_dir}'")
    try:
        key = serialization.load_pem_private_key(_read(ca_dir / CA_KEY), password=None)
    except (ValueError, TypeError):
        raise PKIError(f"{ca_dir / CA_KEY} is not an unencrypted PEM private key") from None
    return key, load_certificate(ca_dir / CA_CERT)


def _key_usage(**usages: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    flags.update(usages)
    return x509.KeyUsage(**flags)


def _new_serial() -> int:
    """A random positive 128-bit serial (RFC 5280 allows up to 20 octets)."""
    return secrets.randbits(128) or 1


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read {path}: {exc.strerror}") from None


def _write_private_key(path: Path, key: Any) -> None:
    """PKCS#8 PEM, created 0600 and exclusively: never readable by others, never overwritten."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PKIError(f"{path} already exists; refusing to overwrite a private key") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _load_json(path: Path) -> dict:
    return json.loads(_read(path))


def _save_json(path: Path, data: dict) -> None:
    _write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
