"""Fuzzing the receive checks with everything a peer can put on the wire: bytes that are not
JSON, JSON that is not a JWS, JWS with a broken header, x5c or payload, validly signed
envelopes with mutated members, signed by peers, strangers and bad certificates, and all of
these sealed in a JWE, whole, broken or for another key.

The properties: ``Verifier.verify`` either returns a verified message or raises ``Rejected``
with one of its documented reason codes, never anything else; a rejection carries the
verified message exactly when it came after the signature check; and a verified envelope is
exactly what was signed, every member in its documented format.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given
from hypothesis import strategies as st

from hub.envelope import HUB_ID, TYPE_NAME
from hub.errors import Rejected
from hub.security import jwe, jws
from hub.verify import REASONS, Verified, Verifier
from tests.security_fixtures import PKIWorld

from . import fuzz_settings
from .strategies import (JSON, dumps, envelope_dicts, jwe_structures, jws_structures,
                         mutated)

VERIFIER_REASONS = REASONS[:REASONS.index("clock_skew") + 1]  # duplicate, schema: the core's
UNVERIFIED = REASONS[:REASONS.index("bad_signature") + 1]
SIGNERS = ["aktau", "samsun", "kuryk", "baku", "aktau-expired", "aktau-revoked",
           "aktau-other-ca"]
UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)


def check(verifier: Verifier, data: bytes) -> Verified | Rejected:
    """Run the checks on ``data``; assert the properties of the outcome and return it."""
    try:
        verified = verifier.verify(data)
    except Rejected as rejected:
        assert rejected.reason in VERIFIER_REASONS, rejected
        assert rejected.detail, rejected.reason
        assert (rejected.verified is None) == (rejected.reason in UNVERIFIED), rejected
        return rejected
    believed_is_signed(verified, verifier)
    return verified


def believed_is_signed(verified: Verified, verifier: Verifier) -> None:
    """What the hub acts on is what the sender signed, in the documented formats."""
    envelope = verified.envelope
    signed = json.loads(jws.parse(verified.jws).payload)
    assert json.loads(envelope.to_bytes()) == signed
    assert dumps(envelope.to_dict()) == dumps(signed), "a member changed type or spelling"
    assert envelope.to == verifier.hub_id and envelope.sender in verifier.peers
    assert envelope.sender == verified.cert.hub_id
    assert UUID7.fullmatch(signed["id"]) and signed["version"] == 1
    assert re.fullmatch(HUB_ID.pattern.strip("^$"), signed["from"])
    assert re.fullmatch(TYPE_NAME.pattern.strip("^$"), signed["type"])
    assert TIME.fullmatch(signed["created"]) and TIME.fullmatch(signed["expires"])
    now = datetime.fromtimestamp(verifier.clock(), timezone.utc)
    assert envelope.expires > now and envelope.created < envelope.expires


@pytest.fixture(scope="module")
def verifier(pki_world: PKIWorld) -> Verifier:
    return pki_world.verifier()


@pytest.fixture(scope="module")
def valid(pki_world: PKIWorld) -> bytes:
    return pki_world.message("aktau")


@fuzz_settings()
@given(data=st.binary(max_size=300) | JSON.map(dumps))
def test_bytes_and_json_that_are_no_jws_are_malformed(verifier, data):
    assert check(verifier, data).reason in ("malformed", "too_large")


@fuzz_settings()
@given(data=st.data())
def test_a_mutated_signed_message_is_refused_before_it_is_believed(verifier, valid, data):
    mutant = data.draw(mutated(valid))
    outcome = check(verifier, mutant)
    if mutant != valid:  # a change that keeps the JSON and its meaning may still verify
        assert isinstance(outcome, Rejected) or outcome.jws == mutant


@fuzz_settings()
@given(data=st.data())
def test_broken_jws_structures_never_get_past_the_checks_unverified(pki_world, verifier, data):
    identity = pki_world.identity(data.draw(st.sampled_from(SIGNERS)))
    payload = pki_world.envelope(sender=identity.hub_id).to_bytes()
    outcome = check(verifier, data.draw(jws_structures(identity.cert_der, payload)))
    assert isinstance(outcome, Rejected)


@fuzz_settings()
@given(data=st.data())
def test_signed_envelopes_with_mutated_members(pki_world, verifier, data):
    """A real signature over a mutated envelope: only a still-valid envelope from a peer with
    a good certificate is believed, and then exactly as signed."""
    signer = data.draw(st.sampled_from(SIGNERS))
    valid: dict[str, Any] = pki_world.envelope(sender=signer.split("-")[0]).to_dict()
    envelope = data.draw(envelope_dicts(valid, pki_world.now))
    # escaped (\\uXXXX, lone surrogates included) or raw UTF-8, as JSON allows both
    payload = dumps(envelope, ascii=data.draw(st.booleans()))
    check(verifier, pki_world.identity(signer).sign(payload))


class OneKey:
    """The decryption of a hub holding one X25519 key, requiring customs types encrypted."""

    def __init__(self) -> None:
        self.key = x25519.X25519PrivateKey.generate()
        self.kid = jwe.thumbprint(self.key.public_key())

    def open(self, data: bytes) -> bytes:
        return jwe.open_sealed(jwe.parse(data), {self.kid: self.key})

    def required(self, type_name: str, peer: str) -> bool:
        return type_name.startswith("customs.")


@fuzz_settings(0.5)
@given(data=st.data())
def test_sealed_messages_whole_broken_or_for_another_key(pki_world, data):
    """A JWE around a signed (mutated) envelope, whole, with a member or a header parameter
    broken, with bytes mutated, or sealed for a key this hub does not hold."""
    keys = OneKey()
    verifier = pki_world.verifier(decryption=keys)
    signer = data.draw(st.sampled_from(SIGNERS))
    valid = pki_world.envelope(sender=signer.split("-")[0],
                               type=data.draw(st.sampled_from(["cargo.manifest",
                                                               "customs.decision"]))).to_dict()
    envelope = data.draw(st.just(valid) | envelope_dicts(valid, pki_world.now))
    signed = pki_world.identity(signer).sign(dumps(envelope))
    recipient = data.draw(st.sampled_from([keys.key, x25519.X25519PrivateKey.generate()]))
    sealed = jwe.seal(signed, recipient.public_key(), data.draw(st.none() | st.just(keys.kid)))
    outcome = check(verifier, data.draw(st.just(sealed) | jwe_structures(sealed)
                                        | mutated(sealed)))
    if isinstance(outcome, Rejected) and outcome.reason == "not_encrypted":
        pytest.fail("a sealed message was taken for a plaintext one")
