"""The test vectors of docs/protocol.md: porthub's verifier gives every expected reason, and
an independent JOSE implementation (jwcrypto) agrees on the signatures."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS, InvalidJWSSignature

from hub.envelope import parse_time
from hub.errors import Rejected
from hub.security import jws
from hub.security.trust import TrustStore
from hub.verify import REASONS, Verifier
from tests.vectors import generate

CHECKS = tuple(r for r in REASONS if r not in ("duplicate", "schema_invalid"))  # the core's
AFTER_SIGNATURE = REASONS[REASONS.index("bad_signature") + 1:]


@pytest.fixture(scope="module", params=["committed", "regenerated"])
def document(request, tmp_path_factory) -> dict:
    """The committed vectors file, and a fresh run of its generator (which must keep working)."""
    if request.param == "committed":
        return json.loads(generate.OUT.read_text())
    # Checked at the time it is made: the certificates a fresh run issues start now.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return json.loads(json.dumps(generate.build(tmp_path_factory.mktemp("vectors"), now)))


def _verifier(document: dict) -> Verifier:
    context = document["context"]
    now = parse_time(context["now"])
    return Verifier(context["recipient"],
                    TrustStore(document["ca"].encode(), document["crl"].encode()),
                    context["peers"], max_bytes=context["max_bytes"],
                    clock_skew=context["clock_skew"], clock=now.timestamp)


def _jwcrypto_verify(vector: dict) -> None:
    """Verify with jwcrypto and the public key of the certificate in the message's x5c."""
    token = JWS()
    token.allowed_algs = ["EdDSA", "ES256"]
    token.deserialize(vector["jws"])
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
    verifier = _verifier(document)
    for vector in document["vectors"]:
        data = vector["jws"].encode()
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
