"""The consortium PKI library and the ``porthub pki`` command."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.commands import pki as pki_command
from hub.security import pki
from hub.security.pki import PKIError

OPENSSL = "/usr/bin/openssl"


def _openssl_verify(ca: Path, cert: Path, crl: Path | None = None) -> subprocess.CompletedProcess:
    crl_args = ["-crl_check", "-CRLfile", str(crl)] if crl else []
    return subprocess.run([OPENSSL, "verify", *crl_args, "-CAfile", str(ca), str(cert)],
                          capture_output=True, text=True, timeout=30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    """A fresh CA of its own, for tests that change the CA's state."""
    pki.init_ca(tmp_path / "ca")
    return tmp_path / "ca"


@pytest.mark.parametrize("name", ["aktau", "samsun"])
def test_openssl_accepts_issued_certificates(pki_world, name):
    result = _openssl_verify(pki_world.ca_dir / pki.CA_CERT, pki_world.paths(name)[0])

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_openssl_with_the_crl_rejects_revoked_and_accepts_the_others(pki_world):
    ca = pki_world.ca_dir / pki.CA_CERT

    revoked = _openssl_verify(ca, pki_world.paths("aktau-revoked")[0], pki_world.crl)
    valid = _openssl_verify(ca, pki_world.paths("aktau")[0], pki_world.crl)

    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_openssl_rejects_a_certificate_of_another_ca(pki_world):
    result = _openssl_verify(pki_world.ca_dir / pki.CA_CERT, pki_world.paths("aktau-other-ca")[0])

    assert result.returncode != 0


def test_private_keys_are_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        pki.init_ca(tmp_path / "ca")
        cert, key = pki.issue(tmp_path / "ca", "aktau", tmp_path / "out")
    finally:
        os.umask(old)

    assert _mode(tmp_path / "ca" / pki.CA_KEY) == 0o600
    assert _mode(key) == 0o600
    assert _mode(tmp_path / "ca") == 0o700
    assert b"PRIVATE KEY" not in cert.read_bytes()


def test_the_ca_certificate_has_the_ca_profile(pki_world):
    ca = _load(pki_world.ca_dir / pki.CA_CERT)
    ext = ca.extensions

    basic = ext.get_extension_for_class(x509.BasicConstraints)
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)


@pytest.mark.parametrize("name", ["aktau", "samsun"])
def test_a_hub_certificate_binds_its_hub_id_and_may_only_sign(pki_world, name):
    cert, ca = _load(pki_world.paths(name)[0]), _load(pki_world.ca_dir / pki.CA_CERT)
    ext = cert.extensions

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "porthub"
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:porthub:hub:{name}"]
    assert pki.hub_id_of(cert) == name
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.serial_number.bit_length() <= 128
    cert.verify_directly_issued_by(ca)


def test_init_ca_refuses_to_overwrite_a_ca(ca_dir):
    key_before = (ca_dir / pki.CA_KEY).read_bytes()

    with pytest.raises(PKIError, match="already holds a CA"):
        pki.init_ca(ca_dir)
    assert (ca_dir / pki.CA_KEY).read_bytes() == key_before


def test_issue_refuses_to_overwrite_a_key(ca_dir, tmp_path):
    pki.issue(ca_dir, "aktau", tmp_path / "out")

    with pytest.raises(PKIError, match="refusing to overwrite"):
        pki.issue(ca_dir, "aktau", tmp_path / "out")


@pytest.mark.parametrize("hub_id", ["Aktau", "a", "1port", "port_1", "x" * 33, "../etc"])
def test_issue_refuses_an_invalid_hub_id(ca_dir, tmp_path, hub_id):
    with pytest.raises(PKIError, match="invalid hub id"):
        pki.issue(ca_dir, hub_id, tmp_path / "out")


def test_issue_without_a_ca_says_how_to_make_one(tmp_path):
    with pytest.raises(PKIError, match="porthub pki init-ca"):
        pki.issue(tmp_path / "nothing", "aktau", tmp_path / "out")


def test_issue_takes_an_explicit_validity_window(pki_world):
    cert = _load(pki_world.paths("aktau-expired")[0])

    assert cert.not_valid_after_utc == pki_world.now - timedelta(days=1)
    assert cert.not_valid_before_utc == pki_world.now - timedelta(days=400)


def test_revoke_records_once_and_the_crl_lists_it_with_its_reason(ca_dir, tmp_path):
    cert_path, _ = pki.issue(ca_dir, "aktau", tmp_path / "out")
    serial = _load(cert_path).serial_number

    assert pki.revoke(ca_dir, cert_path, reason="superseded") == serial
    assert pki.revoke(ca_dir, serial) == serial  # again: the first record stays
    crl_path = pki.make_crl(ca_dir, tmp_path / "crl.pem", days=3)
    second = x509.load_pem_x509_crl(pki.make_crl(ca_dir, tmp_path / "crl2.pem").read_bytes())

    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    ca = _load(ca_dir / pki.CA_CERT)
    assert crl.is_signature_valid(ca.public_key())
    assert crl.next_update_utc - crl.last_update_utc == timedelta(days=3)
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded
    assert len(list(crl)) == 1
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert second.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1


def test_revoke_refuses_what_this_ca_did_not_issue(ca_dir, pki_world):
    with pytest.raises(PKIError, match="was not issued"):
        pki.revoke(ca_dir, 12345)
    with pytest.raises(PKIError, match="was not issued"):
        pki.revoke(ca_dir, pki_world.paths("aktau")[0])
    with pytest.raises(PKIError, match="reason must be one of"):
        pki.revoke(ca_dir, 12345, reason="bored")


def test_an_empty_crl_is_valid_for_openssl(ca_dir, tmp_path):
    cert, _ = pki.issue(ca_dir, "baku", tmp_path / "out")
    crl = pki.make_crl(ca_dir, tmp_path / "crl.pem")

    assert _openssl_verify(ca_dir / pki.CA_CERT, cert, crl).returncode == 0


# The command line --------------------------------------------------------------------------

def _porthub(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``porthub pki ...`` through the command's own parser; (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="porthub")
    pki_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pki", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    assert "PRIVATE KEY" not in out + err
    return code, out, err


def test_the_command_runs_a_ca_without_ever_printing_a_key(capsys, tmp_path):
    ca, out = str(tmp_path / "ca"), tmp_path / "hubs"

    assert _porthub(capsys, "init-ca", "--dir", ca, "--name", "Test CA")[0] == 0
    assert _porthub(capsys, "issue", "aktau", "--ca-dir", ca, "--out", str(out))[0] == 0
    assert _porthub(capsys, "issue", "samsun", "--ca-dir", ca, "--out", str(out),
                    "--algorithm", "p256", "--days", "30")[0] == 0
    code, shown, _ = _porthub(capsys, "show", str(out / "samsun.crt"))
    serial = _load(out / "samsun.crt").serial_number
    assert code == 0
    assert "hub id:     samsun" in shown and f"{serial:x}" in shown and "secp256r1" in shown
    assert _porthub(capsys, "revoke", "--serial", f"{serial:x}", "--ca-dir", ca)[0] == 0
    assert _porthub(capsys, "revoke", "--cert", str(out / "aktau.crt"), "--ca-dir", ca,
                    "--reason", "cessationOfOperation")[0] == 0
    assert _porthub(capsys, "crl", "--ca-dir", ca, "--out", str(tmp_path / "crl.pem"))[0] == 0
    assert json.loads((tmp_path / "ca" / pki.REVOKED).read_text())["crl_number"] == 1
    assert _openssl_verify(tmp_path / "ca" / pki.CA_CERT, out / "samsun.crt",
                           tmp_path / "crl.pem").returncode != 0


@pytest.mark.parametrize("argv, message", [
    (["show", "{hubs}/aktau.key"], "is not a certificate"),
    (["show", "{tmp}/missing.crt"], "cannot read"),
    (["init-ca", "--dir", "{ca}"], "already holds a CA"),
    (["issue", "Aktau", "--ca-dir", "{ca}", "--out", "{hubs}"], "invalid hub id"),
    (["revoke", "--serial", "ff", "--ca-dir", "{ca}"], "was not issued"),
    (["crl", "--ca-dir", "{tmp}/nothing", "--out", "{tmp}/crl.pem"], "no CA in"),
])
def test_a_failure_is_one_clear_line_and_exit_code_1(capsys, tmp_path, argv, message):
    ca, hubs = tmp_path / "ca", tmp_path / "hubs"
    pki.init_ca(ca)
    pki.issue(ca, "aktau", hubs)
    argv = [a.format(ca=ca, hubs=hubs, tmp=tmp_path) for a in argv]

    code, out, err = _porthub(capsys, *argv)

    assert code == 1
    assert err.count("\n") == 1 and message in err and err.startswith(f"porthub pki {argv[0]}:")
    assert "Traceback" not in err
