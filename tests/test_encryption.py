"""End-to-end encryption, piece by piece: the encryption certificate (issued, checked by
porthub and by openssl), the JWE profile, the policy, the configuration, and a CRL that may
only move forward. The hubs doing it end to end are in tests/core/test_encryption.py."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from hub.cli import main
from hub.config import load_config
from hub.encryption import CannotEncrypt, Encryption, Policy
from hub.errors import ConfigError, Rejected
from hub.security import jwe, jws, pki
from hub.security.trust import TrustStore
from tests.test_pki import OPENSSL, _porthub

ROUTES = (("customs.*", ("aktau",)), ("shipment.status", "all"))


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER)


def _enc_key(pki_world) -> x25519.X25519PrivateKey:
    return serialization.load_pem_private_key(pki_world.encryption_paths()[1].read_bytes(), None)


# The encryption certificate -----------------------------------------------------------------

def test_the_encryption_certificate_binds_an_x25519_key_agreement_key_to_the_hub(pki_world):
    cert = x509.load_pem_x509_certificate(pki_world.encryption_paths()[0].read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)

    assert isinstance(cert.public_key(), x25519.X25519PublicKey)
    assert pki.hub_id_of(cert) == "baku"
    assert usage.critical and usage.value.key_agreement and not usage.value.digital_signature
    with pytest.raises(x509.ExtensionNotFound):  # no TLS client use for a key-agreement key
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_openssl_accepts_the_encryption_certificate_and_checks_it_against_the_crl(pki_world):
    ca, cert = pki_world.ca_dir / pki.CA_CERT, pki_world.encryption_paths()[0]
    done = subprocess.run([OPENSSL, "verify", "-crl_check", "-CRLfile", str(pki_world.crl),
                           "-CAfile", str(ca), str(cert)], capture_output=True, text=True,
                          timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr


def test_an_encryption_certificate_is_for_sealing_and_a_signing_one_for_signing(pki_world):
    trust, now = pki_world.trust(), pki_world.now
    enc, signing = _der(pki_world.encryption_paths()[0]), _der(pki_world.paths("baku")[0])

    info = trust.encryption_certificate(enc, now)

    assert info.hub_id == "baku" and info.public_key.public_bytes_raw() == \
        _enc_key(pki_world).public_key().public_bytes_raw()
    with pytest.raises(Rejected, match="key agreement, not for signing"):
        trust.certificate(enc, now)
    with pytest.raises(Rejected, match="not an X25519 encryption certificate"):
        trust.encryption_certificate(signing, now)


def test_the_command_issues_and_shows_an_encryption_certificate(capsys, tmp_path):
    ca, out = str(tmp_path / "ca"), tmp_path / "hubs"
    _porthub(capsys, "init-ca", "--dir", ca)

    code, said, _ = _porthub(capsys, "issue", "baku", "--encryption", "--ca-dir", ca,
                             "--out", str(out))
    shown = _porthub(capsys, "show", str(out / "baku-enc.crt"))[1]

    assert code == 0 and "encryption certificate" in said
    assert (out / "baku-enc.key").stat().st_mode & 0o777 == 0o600
    assert "hub id:     baku" in shown and "X25519" in shown


# The JWE profile -----------------------------------------------------------------------------

def test_a_sealed_message_opens_only_with_the_recipients_key(pki_world):
    key, signed = _enc_key(pki_world), pki_world.message("aktau")
    sealed = jwe.seal(signed, key.public_key())
    parsed = jwe.parse(sealed)

    assert jwe.open_sealed(parsed, {parsed.kid: key}) == signed
    assert parsed.kid == jwe.thumbprint(key.public_key())
    assert list(json.loads(sealed)) == list(jwe.MEMBERS)
    assert list(parsed.header) == list(jwe.HEADER_PARAMS)
    with pytest.raises(Rejected, match="does not hold") as caught:
        jwe.open_sealed(parsed, {})
    assert caught.value.reason == "undecryptable"


@pytest.mark.parametrize("change, detail", [
    (lambda m: {**m, "header": {}}, "'header' is not accepted"),
    (lambda m: {**m, "aad": "AA"}, "'aad' is not accepted"),
    (lambda m: {"recipients": [], **m}, "general JWE serialization"),
    (lambda m: {k: v for k, v in m.items() if k != "tag"}, "exactly the members"),
    (lambda m: {**m, "iv": m["iv"] + "AA"}, "iv must be 12 bytes"),
    (lambda m: {**m, "tag": m["tag"] + "="}, "not unpadded base64url"),
])
def test_anything_but_the_one_jwe_profile_is_malformed(pki_world, change, detail):
    sealed = json.loads(jwe.seal(pki_world.message(), _enc_key(pki_world).public_key()))

    with pytest.raises(Rejected, match=detail) as caught:
        jwe.parse(json.dumps(change(sealed)).encode())
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("params, detail", [
    ({"enc": "A128GCM"}, "enc must be 'A256GCM'"),
    ({"alg": "ECDH-ES"}, "alg must be 'ECDH-ES\\+A256KW'"),
    ({"zip": "DEF"}, "exactly the parameters"),
    ({"epk": {"kty": "EC", "crv": "P-256", "x": "AA"}}, "epk must be an X25519"),
])
def test_a_jwe_header_outside_the_profile_is_malformed(pki_world, params, detail):
    sealed = json.loads(jwe.seal(pki_world.message(), _enc_key(pki_world).public_key()))
    header = json.loads(jws.b64url_decode(sealed["protected"], "protected"))
    sealed["protected"] = jws.b64url_encode(json.dumps({**header, **params}).encode())

    with pytest.raises(Rejected, match=detail):
        jwe.parse(json.dumps(sealed).encode())


def test_a_small_order_ephemeral_key_is_undecryptable_not_a_crash(pki_world):
    """An all-zero epk makes an all-zero shared secret (RFC 7748 §6.1): refused."""
    key = _enc_key(pki_world)
    sealed = json.loads(jwe.seal(pki_world.message(), key.public_key()))
    header = json.loads(jws.b64url_decode(sealed["protected"], "protected"))
    header["epk"]["x"] = jws.b64url_encode(bytes(32))
    sealed["protected"] = jws.b64url_encode(json.dumps(header).encode())
    parsed = jwe.parse(json.dumps(sealed).encode())

    with pytest.raises(Rejected) as caught:
        jwe.open_sealed(parsed, {parsed.kid: key})
    assert caught.value.reason == "undecryptable"


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_of_a_sealed_message_is_refused_unopened(pki_world, data):
    key = _enc_key(pki_world)
    verifier = pki_world.verifier(decryption=Encryption(
        Policy(), {jwe.thumbprint(key.public_key()): key}, {}, pki_world.trust()))
    sealed = jwe.seal(pki_world.message(), key.public_key())
    at = data.draw(st.integers(0, len(sealed) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != sealed[at]))

    with pytest.raises(Rejected) as caught:
        verifier.verify(sealed[:at] + bytes([value]) + sealed[at + 1:])
    assert caught.value.reason in ("malformed", "undecryptable")


def test_a_signed_message_is_never_taken_for_an_encrypted_one(pki_world):
    assert not jwe.looks_encrypted(pki_world.message())
    assert jwe.looks_encrypted(jwe.seal(b"x", _enc_key(pki_world).public_key()))


# The policy and the hub's encryption --------------------------------------------------------

def test_the_policy_takes_types_for_every_peer_and_routes_for_theirs():
    by_route, by_type = Policy(routes=ROUTES), Policy(types=("cargo.*",))

    assert by_route.required("customs.decision", "aktau")
    assert not by_route.required("customs.decision", "samsun")
    assert by_route.required("shipment.status", "samsun")
    assert not by_route.required("cargo.manifest", "aktau")
    assert by_type.required("cargo.manifest", "kuryk") and by_type.with_peer("kuryk")
    assert not Policy(routes=(("customs.*", ("aktau",)),)).with_peer("samsun")
    assert not Policy(types=("*",)).required("hub.receipt", "aktau")  # taken either way


def test_sealing_follows_the_policy_and_receipts_follow_the_peer(pki_world):
    trust = pki_world.trust()
    enc = Encryption(Policy(types=("cargo.*",)), {}, {"baku": [_der(
        pki_world.encryption_paths()[0])]}, trust, clock=pki_world.now.timestamp)
    manifest = pki_world.message("aktau")
    status = pki_world.message("aktau", type="shipment.status", body={})
    receipt = pki_world.message("aktau", type="hub.receipt", body={})

    assert jwe.looks_encrypted(enc.seal("baku", manifest))
    assert enc.seal("baku", status) == status
    assert jwe.looks_encrypted(enc.seal("baku", receipt))
    with pytest.raises(CannotEncrypt, match="no valid encryption certificate of samsun"):
        enc.seal("samsun", manifest)


def test_a_revoked_encryption_certificate_is_not_used(pki_world, tmp_path):
    cert, _key = pki.issue(pki_world.ca_dir, "samsun", tmp_path, encryption=True)
    trust = pki_world.trust()
    enc = Encryption(Policy(types=("*",)), {}, {"samsun": [_der(cert)]}, trust,
                     clock=pki_world.now.timestamp)
    enc.check_recipients("cargo.manifest", ["samsun"])

    pki.revoke(pki_world.ca_dir, cert)
    trust.load_crl(pki.make_crl(pki_world.ca_dir, tmp_path / "crl.pem").read_bytes())

    with pytest.raises(CannotEncrypt, match="certificate_revoked"):
        enc.check_recipients("cargo.manifest", ["samsun"])


# Configuration -------------------------------------------------------------------------------

CONFIG = """\
hub:
  id: baku
  data_dir: {data}
  key: {key}
  cert: {cert}
  ca: {ca}
  crl: {crl}
inbox: {{kind: memory}}
peers:
  aktau:
    transport: {{kind: memory}}
routes:
  - {{type: "customs.*", to: aktau, encrypt: true}}
encryption:
  key: {enc_key}
  cert: {enc_cert}
  peer_certs: {peer_certs}
"""


@pytest.fixture
def config_file(pki_world, tmp_path):
    peer_certs = tmp_path / "peers"
    peer_certs.mkdir()
    pki.issue(pki_world.ca_dir, "aktau", peer_certs, encryption=True)
    (peer_certs / "aktau.crt").write_bytes(pki_world.cert_pem("aktau"))  # passed over
    cert, key = pki_world.paths("baku")
    enc_cert, enc_key = pki_world.encryption_paths()
    path = tmp_path / "porthub.yaml"
    path.write_text(CONFIG.format(
        data=tmp_path / "data", key=key, cert=cert, ca=pki_world.ca_dir / pki.CA_CERT,
        crl=pki_world.crl, enc_key=enc_key, enc_cert=enc_cert, peer_certs=peer_certs))
    return path


def _load(path: Path) -> Encryption:
    config = load_config(path)
    return Encryption.load(config, TrustStore.from_files(config.hub.ca, config.hub.crl))


def test_a_configuration_with_encryption_loads_keys_and_peer_certificates(config_file):
    enc = _load(config_file)

    assert len(enc.keys) == 1 and list(enc.peer_certs) == ["aktau"]
    enc.check_recipients("customs.decision", ["aktau"])


@pytest.mark.parametrize("change, message", [
    (("  key: ", "  keys: "), ":15: encryption.keys: unknown key"),
    (("  cert: ", "  # cert: "), ":14: encryption: key and cert go together"),
    (("  peer_certs: ", "  peer_certs: [1]\n  x: "), ":17: encryption.peer_certs: "),
])
def test_an_encryption_setting_error_names_file_line_and_key(config_file, change, message):
    head, section, tail = config_file.read_text().partition("encryption:\n")
    config_file.write_text(head + section + tail.replace(*change))

    with pytest.raises(ConfigError, match=message) as caught:
        load_config(config_file)
    assert str(config_file) in str(caught.value)


def test_encryption_without_a_key_of_its_own_is_a_configuration_error(config_file):
    text = config_file.read_text()
    config_file.write_text(text[:text.index("encryption:")])

    with pytest.raises(ConfigError, match=r"encryption: routes: 'customs\.\*' asks for "
                                          r"encryption, so this hub needs encryption\.key"):
        load_config(config_file)


def test_a_peer_without_an_encryption_certificate_is_a_configuration_error(config_file,
                                                                           tmp_path):
    for path in (tmp_path / "peers").glob("aktau-enc.*"):
        path.unlink()

    with pytest.raises(ConfigError, match="peer aktau has no valid encryption certificate"):
        _load(config_file)


def test_keys_that_are_not_x25519_and_foreign_certificates_are_refused(config_file,
                                                                       pki_world):
    text = config_file.read_text()
    config_file.write_text(text.replace(str(pki_world.encryption_paths()[1]),
                                        str(pki_world.paths("baku")[1])))
    with pytest.raises(ConfigError, match="is not an X25519 key"):
        _load(config_file)

    config_file.write_text(text.replace(
        "    transport: {kind: memory}\n",
        f"    transport: {{kind: memory}}\n    encryption_cert: {pki_world.encryption_paths()[0]}\n"))
    with pytest.raises(ConfigError, match="encryption_cert .* is for hub 'baku'"):
        _load(config_file)


# The CRL only moves forward ------------------------------------------------------------------

def test_an_older_crl_is_refused_and_the_newer_one_stays(pki_world, tmp_path):
    older = pki.make_crl(pki_world.ca_dir, tmp_path / "older.pem").read_bytes()
    newer = pki.make_crl(pki_world.ca_dir, tmp_path / "newer.pem").read_bytes()
    trust = TrustStore(pki_world.ca_pem(), newer)
    revoked = _der(pki_world.paths("aktau-revoked")[0])

    with pytest.raises(ConfigError, match="older than the one in use"):
        trust.load_crl(older)
    with pytest.raises(Rejected, match="revoked"):
        trust.certificate(revoked, pki_world.now)


def test_porthub_check_warns_of_an_encryption_certificate_about_to_expire(
        config_file, tmp_path, pki_world, capsys):
    assert main(["check", "-c", str(config_file)]) == 0
    assert "encryption: 1 decryption key(s); encryption certificates of aktau" in \
        capsys.readouterr().out
    for path in (tmp_path / "peers").glob("aktau-enc.*"):
        path.unlink()
    now = datetime.now(timezone.utc)
    pki.issue(pki_world.ca_dir, "aktau", tmp_path / "peers", encryption=True,
              not_before=now - timedelta(days=1), not_after=now + timedelta(days=9, hours=1))

    assert main(["check", "-c", str(config_file)]) == 1
    assert "the encryption certificate of aktau expires in 9 days" in capsys.readouterr().err
