"""The trust store: chain, profile, validity window and revocation of sender certificates."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from hub.errors import ConfigError, Rejected
from hub.security import pki, trust
from hub.security.trust import TrustStore


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _reason(store: TrustStore, der: bytes, now) -> str:
    with pytest.raises(Rejected) as caught:
        store.certificate(der, now)
    return caught.value.reason


def _signed_by_consortium_ca(world, *extensions: x509.ExtensionType) -> bytes:
    """A hub certificate with exactly ``extensions``, signed by the consortium CA key."""
    ca_key = serialization.load_pem_private_key(
        (world.ca_dir / pki.CA_KEY).read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(world.ca_pem())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aktau")]))
               .issuer_name(ca_cert.subject)
               .public_key(ed25519.Ed25519PrivateKey.generate().public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(world.now - timedelta(days=1))
               .not_valid_after(world.now + timedelta(days=1)))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca_key, None).public_bytes(serialization.Encoding.DER)


AKTAU_URI = x509.SubjectAlternativeName([x509.UniformResourceIdentifier("urn:porthub:hub:aktau")])


@pytest.mark.parametrize("name, hub_id, algorithm", [("aktau", "aktau", "EdDSA"),
                                                     ("samsun", "samsun", "ES256")])
def test_a_consortium_certificate_gives_its_hub_id_key_and_fingerprint(
        pki_world, name, hub_id, algorithm):
    der = _der(pki_world.cert_pem(name))
    cert = x509.load_der_x509_certificate(der)

    info = pki_world.trust().certificate(der, pki_world.now)

    assert info.hub_id == hub_id
    assert info.algorithm == algorithm
    assert info.fingerprint == hashlib.sha256(der).hexdigest()
    assert info.serial == cert.serial_number
    assert info.not_after == cert.not_valid_after_utc


@pytest.mark.parametrize("name, reason", [
    ("aktau-other-ca", "untrusted_certificate"),
    ("aktau-expired", "certificate_expired"),
    ("aktau-revoked", "certificate_revoked"),
])
def test_bad_certificates_are_rejected_with_their_reason(pki_world, name, reason):
    assert _reason(pki_world.trust(), _der(pki_world.cert_pem(name)), pki_world.now) == reason


def test_a_certificate_is_checked_against_its_window_at_every_call(pki_world):
    store, der = pki_world.trust(), _der(pki_world.cert_pem("aktau"))
    info = store.certificate(der, pki_world.now)

    assert _reason(store, der, info.not_after + timedelta(seconds=1)) == "certificate_expired"
    assert _reason(store, der, info.not_before - timedelta(seconds=1)) == "certificate_expired"


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x01", b"not a certificate"])
def test_garbage_is_an_untrusted_certificate(pki_world, der):
    assert _reason(pki_world.trust(), der, pki_world.now) == "untrusted_certificate"


def test_the_ca_certificate_itself_cannot_sign_messages(pki_world):
    assert _reason(pki_world.trust(), _der(pki_world.ca_pem()), pki_world.now) == \
        "untrusted_certificate"


@pytest.mark.parametrize("extensions", [
    (),  # no subject alternative name: no hub id
    (x509.SubjectAlternativeName([x509.UniformResourceIdentifier("https://aktau.example")]),),
    (x509.SubjectAlternativeName([x509.UniformResourceIdentifier("urn:porthub:hub:aktau"),
                                  x509.UniformResourceIdentifier("urn:porthub:hub:baku")]),),
    (x509.SubjectAlternativeName([x509.UniformResourceIdentifier("urn:porthub:hub:Bad_Id")]),),
    (AKTAU_URI, x509.BasicConstraints(ca=True, path_length=None)),
    (AKTAU_URI, x509.KeyUsage(False, False, False, False, False, True, True, False, False)),
], ids=["no-san", "other-uri", "two-hub-ids", "invalid-hub-id", "ca-true", "no-signing-usage"])
def test_a_ca_signed_certificate_outside_the_hub_profile_is_untrusted(pki_world, extensions):
    der = _signed_by_consortium_ca(pki_world, *extensions)

    assert _reason(pki_world.trust(), der, pki_world.now) == "untrusted_certificate"


def test_the_minimal_profile_certificate_is_accepted(pki_world):
    """The check above fails for the profile, not for the way the test builds certificates."""
    der = _signed_by_consortium_ca(pki_world, AKTAU_URI)

    assert pki_world.trust().certificate(der, pki_world.now).hub_id == "aktau"


def test_ca_rollover_trusts_certificates_of_both_cas(pki_world):
    both = pki_world.ca_pem() + (pki_world.root / "other-ca" / pki.CA_CERT).read_bytes()
    store = TrustStore(both, pki_world.crl.read_bytes())

    for name in ("aktau", "aktau-other-ca"):
        assert store.certificate(_der(pki_world.cert_pem(name)), pki_world.now).hub_id == "aktau"
    assert _reason(store, _der(pki_world.cert_pem("aktau-revoked")), pki_world.now) == \
        "certificate_revoked"


def test_a_crl_loaded_later_revokes_cached_certificates(pki_world):
    store = TrustStore(pki_world.ca_pem())
    der = _der(pki_world.cert_pem("aktau-revoked"))
    store.certificate(der, pki_world.now)

    store.load_crl(pki_world.crl.read_bytes())

    assert _reason(store, der, pki_world.now) == "certificate_revoked"
    assert store.crl_next_update[0] > pki_world.now


def test_a_crl_not_signed_by_a_trusted_ca_is_refused(pki_world, tmp_path):
    other_crl = pki.make_crl(pki_world.root / "other-ca", tmp_path / "other.pem")

    with pytest.raises(ConfigError, match="not signed by a trusted CA"):
        TrustStore(pki_world.ca_pem(), other_crl.read_bytes())
    with pytest.raises(ConfigError, match="no PEM CRL"):
        TrustStore(pki_world.ca_pem(), b"garbage")


def test_the_ca_file_must_hold_ca_certificates(pki_world):
    with pytest.raises(ConfigError, match="not a CA"):
        TrustStore(pki_world.cert_pem("aktau"))
    with pytest.raises(ConfigError, match="no PEM certificate"):
        TrustStore(b"")


def test_from_files_reads_the_ca_and_crl_and_names_a_missing_file(pki_world, tmp_path):
    store = TrustStore.from_files(pki_world.ca_dir / pki.CA_CERT, pki_world.crl)
    assert _reason(store, _der(pki_world.cert_pem("aktau-revoked")), pki_world.now) == \
        "certificate_revoked"

    with pytest.raises(ConfigError, match="missing.pem"):
        TrustStore.from_files(tmp_path / "missing.pem")


def test_chain_checks_are_cached_by_fingerprint_and_bounded(pki_world, monkeypatch):
    store = pki_world.trust()
    calls = []
    real_chain = store._chain
    monkeypatch.setattr(store, "_chain", lambda der, fp: calls.append(fp) or real_chain(der, fp))
    monkeypatch.setattr(trust, "CACHE_SIZE", 2)
    ders = [_der(pki_world.cert_pem(name)) for name in ("aktau", "baku", "samsun")]

    for _ in range(3):
        store.certificate(ders[0], pki_world.now)
    assert len(calls) == 1

    for der in ders[1:]:  # baku fills the cache, samsun evicts the oldest entry, aktau
        store.certificate(der, pki_world.now)
    assert len(store._cache) == 2 and len(calls) == 3
    store.certificate(ders[0], pki_world.now)
    assert len(calls) == 4
