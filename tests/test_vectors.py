"""The test vectors of docs/protocol.md: porthub's verifier gives every expected reason, and
an independent JOSE implementation (jwcrypto) agrees on the signatures and on the encryption
of the encrypted vectors."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from jwcrypto.common import JWException
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS, InvalidJWSSignature

from hub.encryption import Encryption, Policy
from hub.envelope import parse_time
from hub.errors import Rejected
from hub.security import jwe, jws
from hub.security.trust import TrustStore
from hub.verify import REASONS, Verifier
from tests.vectors import generate

ENCRYPTION_CHECKS = ("undecryptable", "not_encrypted")  # the vectors of porthub-v1-jwe.json
CHECKS = tuple(r for r in REASONS  # duplicate and schema_invalid are the core's
               if r not in ("duplicate", "schema_invalid", *ENCRYPTION_CHECKS))
AFTER_SIGNATURE = REASONS[REASONS.index("bad_signature") + 1:]


def _document(request, tmp_path_factory, committed: Path, build) -> dict:
    """The committed vectors file, or a fresh run of its generator (which must keep working)."""
    if request.param == "committed":
        return json.loads(committed.read_text())
    # Checked at the time it is made: the certificates a fresh run issues start now.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return json.loads(json.dumps(build(tmp_path_factory.mktemp("vectors"), now)))


@pytest.fixture(scope="module", params=["committed", "regenerated"])
def document(request, tmp_path_factory) -> dict:
    return _document(request, tmp_path_factory, generate.OUT, generate.build)


@pytest.fixture(scope="module", params=["committed", "regenerated"])
def jwe_document(request, tmp_path_factory) -> dict:
    """The encrypted vectors (porthub-v1-jwe.json)."""
    return _document(request, tmp_path_factory, generate.OUT_JWE, generate.build_jwe)


def _verifier(document: dict) -> Verifier:
    context = document["context"]
    now = parse_time(context["now"])
    trust = TrustStore(document["ca"].encode(), document["crl"].encode())
    decryption = None
    if "recipient_key" in document:
        key = JWK(**document["recipient_key"]).get_op_key("unwrapKey")
        decryption = Encryption(Policy(types=tuple(context["encrypted_types"])),
                                {jwe.thumbprint(key.public_key()): key}, {}, trust)
    return Verifier(context["recipient"], trust, context["peers"],
                    max_bytes=context["max_bytes"], clock_skew=context["clock_skew"],
                    clock=now.timestamp, decryption=decryption)


def _jwcrypto_verify(vector: dict) -> None:
    """Verify with jwcrypto and the public key of the certificate in the message's x5c."""
    token = JWS()
    token.allowed_algs = ["EdDSA", "ES256"]
    token.deserialize(vector["jws"] if isinstance(vector, dict) else vector)
    der = base64.b64decode(token.jose_header["x5c"][0])
    token.verify(JWK.from_pyca(x509.load_der_x509_certificate(der).public_key()))


def test_the_committed_file_is_where_the_generator_writes():
    assert generate.OUT == Path(__file__).parent.parent / "docs" / "vectors" / "porthub-v1.json"


def test_there_is_a_vector_for_every_check_and_for_each_algorithm(document):
    reasons = {vector["expected_reason"] for vector in document["vectors"]}
    algorithms = {jws.parse(v["jws"].encode()).alg
                  for v in document["vectors"] if v["expected_reason"] is None}

    assert reasons == {None, *CHECKS}
    assert algorithms == {"EdDSA", "ES256"}
    assert "PRIVATE KEY" not in json.dumps(document)


def test_every_vector_gives_its_expected_outcome(document):
    _check_outcomes(document, "jws")


def _check_outcomes(document: dict, member: str) -> None:
    verifier = _verifier(document)
    for vector in document["vectors"]:
        data = vector[member].encode()
        if vector["expected_reason"] is None:
            verified = verifier.verify(data)
            assert verified.digest == vector["digest"], vector["name"]
            assert verified.envelope.id == vector["message_id"], vector["name"]
            continue
        with pytest.raises(Rejected) as caught:
            verifier.verify(data)
        rejected = caught.value
        assert rejected.reason == vector["expected_reason"], vector["name"]
        assert (rejected.verified is not None) == (rejected.reason in AFTER_SIGNATURE), \
            vector["name"]


def test_jwcrypto_verifies_the_valid_vectors(document):
    for vector in document["vectors"]:
        if vector["expected_reason"] is None:
            _jwcrypto_verify(vector)


def test_jwcrypto_rejects_the_tampered_signatures(document):
    tampered = [v for v in document["vectors"] if v["expected_reason"] == "bad_signature"]

    assert {v["name"] for v in tampered} == {"bad-signature-payload-bit",
                                             "bad-signature-signature-bit"}
    for vector in tampered:
        with pytest.raises(InvalidJWSSignature):
            _jwcrypto_verify(vector)


def _jwcrypto_decrypt(document: dict, vector: dict) -> bytes:
    """Open with jwcrypto, allowing only the one algorithm pair porthub uses."""
    token = JWE()
    token.allowed_algs = [jwe.ALG, jwe.ENC]
    token.deserialize(vector["message"], key=JWK(**document["recipient_key"]))
    return token.payload


def test_there_is_an_encrypted_vector_for_each_encryption_check(jwe_document):
    reasons = {vector["expected_reason"] for vector in jwe_document["vectors"]}

    assert set(ENCRYPTION_CHECKS) < reasons and None in reasons
    assert "TEST MATERIAL ONLY" in jwe_document["warning"]
    assert "PRIVATE KEY" not in json.dumps(jwe_document)  # only the marked JWK test key


def test_every_encrypted_vector_gives_its_expected_outcome(jwe_document):
    _check_outcomes(jwe_document, "message")


def test_jwcrypto_opens_the_valid_encrypted_vectors_and_verifies_what_is_inside(jwe_document):
    key = JWK(**jwe_document["recipient_key"])
    opened = [v for v in jwe_document["vectors"]
              if v["expected_reason"] is None and jwe.looks_encrypted(v["message"].encode())]

    assert opened
    assert key.thumbprint() == jwe_document["recipient_key"]["kid"]
    for vector in opened:
        assert json.loads(vector["message"]).keys() == set(jwe.MEMBERS)
        inner = _jwcrypto_decrypt(jwe_document, vector)
        assert inner == vector["jws"].encode()
        _jwcrypto_verify(inner.decode())


def test_jwcrypto_refuses_the_tampered_and_wrong_key_encrypted_vectors(jwe_document):
    refused = [v for v in jwe_document["vectors"] if v["expected_reason"] == "undecryptable"]

    assert {v["name"] for v in refused} >= {"undecryptable-wrong-key",
                                            "undecryptable-ciphertext-bit"}
    for vector in refused:
        with pytest.raises(JWException):
            _jwcrypto_decrypt(jwe_document, vector)
