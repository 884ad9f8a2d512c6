"""JWS signing and strict parsing (hub/security/jws.py)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import Rejected
from hub.security import jws
from hub.security.trust import CertInfo


def _parts(data: bytes) -> dict:
    return json.loads(data)


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _with_header(message: bytes, **changes: object) -> bytes:
    """``message`` with its protected header changed (entries set to None are removed)."""
    parts = _parts(message)
    header = json.loads(jws.b64url_decode(parts["protected"], "header"))
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    return _dump({**parts, "protected": jws.b64url_encode(_dump(header))})


@pytest.fixture(scope="module")
def signers(pki_world):
    """Identity and checked certificate of an EdDSA and an ES256 signer."""
    trust = pki_world.trust()
    return {name: (ident, trust.certificate(ident.cert_der, pki_world.now))
            for name, ident in (("EdDSA", pki_world.identity("aktau")),
                                ("ES256", pki_world.identity("samsun")))}


@pytest.fixture(scope="module")
def message(signers) -> bytes:
    return signers["EdDSA"][0].sign(b'{"hello":"baku"}')


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_signed_message_has_exactly_the_porthub_header_and_verifies(signers, alg):
    identity, cert = signers[alg]
    data = identity.sign(b"payload bytes")

    assert list(_parts(data)) == ["payload", "protected", "signature"]
    assert b"=" not in data and b" " not in data
    parsed = jws.parse(data)
    expected_header = ('{"alg":"%s","typ":"porthub+jws","x5c":["%s"]}'
                       % (alg, base64.b64encode(identity.cert_der).decode())).encode()
    assert jws.b64url_decode(_parts(data)["protected"], "header") == expected_header
    assert parsed.payload == b"payload bytes"
    assert parsed.cert_der == identity.cert_der
    assert len(parsed.signature) == 64
    assert jws.verify_signature(parsed, cert.public_key, cert.algorithm)


@given(payload=st.binary(max_size=300), flip=st.integers(min_value=0))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_libsodium_and_openssl_agree_on_ed25519(signers, payload, flip):
    """Ed25519 goes through libsodium; OpenSSL (cryptography) must accept exactly what it
    signs, and both refuse the same signature with one bit flipped -- and libsodium accepts
    what OpenSSL signs."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    identity, cert = signers["EdDSA"]
    parsed = jws.parse(identity.sign(payload))
    cert.public_key.verify(parsed.signature, parsed.signing_input)  # OpenSSL accepts it
    bit = flip % (len(parsed.signature) * 8)
    broken = bytearray(parsed.signature)
    broken[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignature):
        cert.public_key.verify(bytes(broken), parsed.signing_input)
    assert not jws.verify_signature(jws.ParsedJWS(parsed.header, parsed.payload,
                                                  parsed.signing_input, bytes(broken),
                                                  parsed.cert_der),
                                    cert.public_key, cert.algorithm)
    other = ed25519.Ed25519PrivateKey.generate()
    by_openssl = jws.ParsedJWS(parsed.header, parsed.payload, parsed.signing_input,
                               other.sign(parsed.signing_input), parsed.cert_der)
    assert jws.verify_signature(by_openssl, other.public_key(), "EdDSA")
    assert not jws.verify_signature(by_openssl, cert.public_key, cert.algorithm)


def test_digest_is_sha256_of_the_signing_input(message):
    parsed = jws.parse(message)
    parts = _parts(message)
    raw = hashlib.sha256(f"{parts['protected']}.{parts['payload']}".encode()).digest()

    assert jws.digest(parsed) == "sha256:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_header_alg_must_match_the_certificate_key_type(signers):
    """An ES256 header over an Ed25519 certificate, even with a valid Ed25519 signature."""
    identity, cert = signers["EdDSA"]
    parsed = jws.parse(identity.sign(b"x"))
    relabelled = jws.ParsedJWS({**parsed.header, "alg": "ES256"}, parsed.payload,
                               parsed.signing_input, parsed.signature, parsed.cert_der)
    other_key = signers["ES256"][1]

    assert not jws.verify_signature(relabelled, cert.public_key, cert.algorithm)
    assert not jws.verify_signature(parsed, cert.public_key, "ES256")
    assert not jws.verify_signature(parsed, other_key.public_key, "EdDSA")


MALFORMED = {
    "not JSON": lambda m: b"hello",
    "not UTF-8": lambda m: b"\xff" + m,
    "a JSON array": lambda m: b"[]",
    "compact serialization": lambda m: ".".join(
        _parts(m)[k] for k in ("protected", "payload", "signature")).encode(),
    "missing signature": lambda m: _dump({k: v for k, v in _parts(m).items()
                                          if k != "signature"}),
    "extra member": lambda m: _dump({**_parts(m), "extra": 1}),
    "unprotected header": lambda m: _dump({**_parts(m), "header": {"kid": "a"}}),
    "general serialization": lambda m: _dump({"payload": _parts(m)["payload"], "signatures": [
        {"protected": _parts(m)["protected"], "signature": _parts(m)["signature"]}]}),
    "duplicate member": lambda m: m[:-1] + b',"payload":"e30"}',
    "padding": lambda m: _dump({**_parts(m), "signature": _parts(m)["signature"] + "=="}),
    "standard base64 alphabet": lambda m: _dump({**_parts(m), "payload": "ab+/"}),
    "non-canonical base64url": lambda m: _dump({**_parts(m), "payload": "e31"}),
    "impossible base64url length": lambda m: _dump({**_parts(m), "payload": "abcde"}),
    "header not an object": lambda m: _dump({**_parts(m), "protected": jws.b64url_encode(b"[]")}),
    "header not JSON": lambda m: _dump({**_parts(m), "protected": jws.b64url_encode(b"{")}),
    "header with a duplicate alg": lambda m: _dump({**_parts(m), "protected": jws.b64url_encode(
        b'{"alg":"EdDSA","alg":"none","typ":"porthub+jws","x5c":[]}')}),
    "alg none": lambda m: _with_header(m, alg="none"),
    "alg HS256": lambda m: _with_header(m, alg="HS256"),
    "no alg": lambda m: _with_header(m, alg=None),
    "crit": lambda m: _with_header(m, crit=["b64"]),
    "b64 false": lambda m: _with_header(m, b64=False),
    "jku": lambda m: _with_header(m, jku="https://example.org/keys"),
    "x5u": lambda m: _with_header(m, x5u="https://example.org/cert"),
    "jwk": lambda m: _with_header(m, jwk={"kty": "OKP"}),
    "unknown header parameter": lambda m: _with_header(m, kid="aktau"),
    "typ wrong": lambda m: _with_header(m, typ="JWT"),
    "no typ": lambda m: _with_header(m, typ=None),
    "x5c not a list": lambda m: _with_header(m, x5c="MIIB"),
    "x5c with two certificates": lambda m: _with_header(
        m, x5c=json.loads(jws.b64url_decode(_parts(m)["protected"], "h"))["x5c"] * 2),
    "x5c empty": lambda m: _with_header(m, x5c=[]),
    "x5c not a string": lambda m: _with_header(m, x5c=[1]),
    "x5c in base64url": lambda m: _with_header(m, x5c=["-_-_"]),
    "x5c without padding": lambda m: _with_header(m, x5c=["YWI"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_parse_refuses_anything_but_the_porthub_profile(message, case):
    with pytest.raises(Rejected) as caught:
        jws.parse(MALFORMED[case](message))

    assert caught.value.reason == "malformed"


def test_alg_none_is_refused_by_name(message):
    with pytest.raises(Rejected, match="alg 'none'"):
        jws.parse(_with_header(message, alg="none"))


def _mutations(data: bytes):
    """A position in ``data`` and a different byte value to put there."""
    return st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)).filter(
        lambda change: data[change[0]] != change[1])


def _verifies(data: bytes, cert: CertInfo) -> bool:
    """True if ``data`` verifies; a refusal must be a Rejected, never another exception."""
    try:
        parsed = jws.parse(data)
    except Rejected as exc:
        assert exc.reason == "malformed"
        return False
    return jws.verify_signature(parsed, cert.public_key, cert.algorithm)


PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(payload=st.binary(max_size=512), alg=st.sampled_from(["EdDSA", "ES256"]))
def test_any_signed_payload_verifies(signers, payload, alg):
    identity, cert = signers[alg]
    data = identity.sign(payload)

    assert _verifies(data, cert)
    assert jws.parse(data).payload == payload


@PROPERTY
@given(data=st.data(), alg=st.sampled_from(["EdDSA", "ES256"]))
def test_any_single_byte_change_of_the_serialized_jws_is_refused(signers, data, alg):
    identity, cert = signers[alg]
    message = identity.sign(b'{"body":"Aktau to Baku, 24000 kg"}')
    at, value = data.draw(_mutations(message))

    assert not _verifies(message[:at] + bytes([value]) + message[at + 1:], cert)


@PROPERTY
@given(data=st.data(), alg=st.sampled_from(["EdDSA", "ES256"]),
       part=st.sampled_from(["payload", "signature"]))
def test_any_single_byte_change_of_the_payload_or_signature_is_refused(signers, data, alg,
                                                                       part):
    identity, cert = signers[alg]
    parts = _parts(identity.sign(b'{"body":"Aktau to Baku, 24000 kg"}'))
    raw = jws.b64url_decode(parts[part], part)
    at, value = data.draw(_mutations(raw))
    changed = raw[:at] + bytes([value]) + raw[at + 1:]

    assert not _verifies(_dump({**parts, part: jws.b64url_encode(changed)}), cert)


@pytest.mark.parametrize("text", [r'"\ud800"', r'{"a":"x\udfff"}', r'[{"\udbff":1}]',
                                  r'["\ud83d\ud83d"]'])
def test_an_escaped_lone_surrogate_is_malformed(text):
    """Given JSON with a lone surrogate escape (valid JSON, not Unicode text: SQLite and every
    UTF-8 writer refuse it), strict_json refuses it. Found by fuzzing: a signed envelope with
    such a correlation id passed every check and then failed the inbox insert."""
    with pytest.raises(Rejected) as refused:
        jws.strict_json(text.encode(), "payload")
    assert refused.value.reason == "malformed"


def test_an_escaped_surrogate_pair_and_an_escaped_backslash_are_text():
    assert jws.strict_json(rb'["\ud83d\ude00", "\\ud800"]', "payload") == ["\U0001F600",
                                                                              "\\ud800"]


@pytest.mark.parametrize("text", ["0\n", "AAAAA\n", "AA\n"])
def test_base64url_with_a_trailing_newline_is_malformed(text):
    """Found by fuzzing: "$" let "0\n" through the alphabet check, and the decoder then raised
    binascii.Error, out of the receive checks as a ValueError instead of a rejection."""
    with pytest.raises(Rejected) as refused:
        jws.b64url_decode(text, "protected header")
    assert refused.value.reason == "malformed"


def test_a_protected_header_of_0_newline_is_malformed(message):
    parts = _parts(message)
    parts["protected"] = "0\n"
    with pytest.raises(Rejected) as refused:
        jws.parse(_dump(parts))
    assert refused.value.reason == "malformed"
