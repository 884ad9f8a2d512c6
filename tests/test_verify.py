"""The receive checks (hub/verify.py). Every reason code is also covered, against fixed
messages, by the test vectors in tests/test_vectors.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import Rejected
from hub.security import jws
from hub.security.trust import TrustStore
from hub.verify import REASONS, Verifier

SIGNED_BEFORE_BAD_SIGNATURE = REASONS[:REASONS.index("bad_signature") + 1]


def _rejected(verifier: Verifier, data: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        verifier.verify(data)
    return caught.value


def test_the_reason_codes_are_in_check_order():
    assert REASONS == (
        "too_large", "malformed", "undecryptable", "unknown_sender", "untrusted_certificate",
        "certificate_expired", "certificate_revoked", "certificate_mismatch", "bad_signature",
        "wrong_recipient", "type_not_allowed", "not_encrypted", "expired", "clock_skew",
        "duplicate", "schema_invalid")


@pytest.mark.parametrize("signer, type, algorithm", [
    ("aktau", "cargo.manifest", "EdDSA"), ("samsun", "customs.decision", "ES256")])
def test_a_valid_message_is_verified(pki_world, signer, type, algorithm):
    data = pki_world.message(signer, type=type)

    verified = pki_world.verifier().verify(data)

    assert verified.envelope.sender == signer and verified.envelope.type == type
    assert verified.jws == data
    assert verified.digest == jws.digest(jws.parse(data))
    assert verified.cert.hub_id == signer and verified.cert.algorithm == algorithm


def test_the_size_limit_comes_before_any_parsing(pki_world):
    verifier = pki_world.verifier(max_bytes=100)

    assert _rejected(verifier, b"{" * 101).reason == "too_large"
    assert _rejected(verifier, b"{" * 100).reason == "malformed"


def test_before_the_signature_nothing_is_verified_but_the_claimed_sender_is_named(pki_world):
    data = pki_world.message("kuryk")

    rejected = _rejected(pki_world.verifier(), data)

    assert rejected.reason == "unknown_sender"
    assert rejected.sender == "kuryk"
    assert rejected.message_id == json.loads(jws.parse(data).payload)["id"]
    assert rejected.verified is None


def test_after_the_signature_a_rejection_carries_the_verified_message(pki_world):
    rejected = _rejected(pki_world.verifier(), pki_world.message("aktau", to="samsun"))

    assert rejected.reason == "wrong_recipient"
    assert rejected.verified.envelope.id == rejected.message_id
    assert rejected.verified.cert.hub_id == rejected.sender == "aktau"


def test_a_receipt_is_allowed_from_every_peer_and_patterns_are_case_sensitive(pki_world):
    verifier = pki_world.verifier(peers={"aktau": ["cargo.manifest"]})

    verifier.verify(pki_world.message("aktau", type="hub.receipt", body={}))
    assert _rejected(verifier, pki_world.message("aktau", type="cargo.manifest_v2")).reason == \
        "type_not_allowed"
    verifier.peers = {"aktau": ["CARGO.*"]}
    assert _rejected(verifier, pki_world.message("aktau")).reason == "type_not_allowed"


def test_what_a_peer_may_send_follows_a_change_of_its_patterns(pki_world):
    # The answer per (sender, type) is remembered: a reload must not keep the old one.
    verifier, data = pki_world.verifier(peers={"aktau": ["cargo.*"]}), pki_world.message("aktau")
    verifier.verify(data)
    verifier.verify(data)

    verifier.peers = {"aktau": ["customs.*"]}
    assert _rejected(verifier, data).reason == "type_not_allowed"
    verifier.peers = {"aktau": ["cargo.manifest"]}
    verifier.verify(data)


def test_time_limits_are_exclusive_of_expiry_and_inclusive_of_skew(pki_world):
    now, verifier = pki_world.now, pki_world.verifier()

    assert _rejected(verifier, pki_world.message(
        created=now - timedelta(hours=1), expires=now)).reason == "expired"
    verifier.verify(pki_world.message(created=now + timedelta(seconds=300)))
    assert _rejected(verifier, pki_world.message(
        created=now + timedelta(seconds=301))).reason == "clock_skew"


def test_peers_and_trust_can_be_swapped_on_a_running_verifier(pki_world):
    verifier, data = pki_world.verifier(), pki_world.message("aktau-revoked")
    verifier.trust = TrustStore(pki_world.ca_pem())  # no CRL yet
    verifier.verify(data)

    verifier.trust = pki_world.trust()
    assert _rejected(verifier, data).reason == "certificate_revoked"
    verifier.peers = {"samsun": ["*"]}
    assert _rejected(verifier, data).reason == "unknown_sender"


def test_type_patterns_must_be_a_list(pki_world):
    with pytest.raises(TypeError, match="must be a list"):
        pki_world.verifier(peers={"aktau": "cargo.*"})


def test_a_payload_with_a_duplicate_member_is_malformed(pki_world):
    """JSON parsers disagree on which duplicate wins; a signed ambiguity is refused."""
    payload = pki_world.envelope().to_bytes()
    doubled = payload[:-1] + b',"to":"samsun"}'
    data = pki_world.identity("aktau").sign(doubled)

    assert _rejected(pki_world.verifier(), data).reason == "malformed"


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), signer=st.sampled_from(["aktau", "samsun"]))
def test_any_single_byte_change_is_rejected_before_it_is_believed(pki_world, data, signer):
    message = pki_world.message(signer)
    at = data.draw(st.integers(0, len(message) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != message[at]))

    rejected = _rejected(pki_world.verifier(), message[:at] + bytes([value]) + message[at + 1:])

    assert rejected.reason in SIGNED_BEFORE_BAD_SIGNATURE
    assert rejected.verified is None


@pytest.mark.parametrize("data", [b'"ciphertext"', b'{"ciphertext": 1}'])
def test_garbage_that_names_a_jwe_member_is_malformed_without_keys_too(pki_world, data):
    """Found by fuzzing: a verifier without decryption keys answered anything containing
    "ciphertext" with undecryptable, where a hub with keys says malformed."""
    assert _rejected(pki_world.verifier(), data).reason == "malformed"
