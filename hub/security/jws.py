"""JWS flattened JSON serialization (RFC 7515 §7.2.2) with EdDSA/Ed25519 and ES256.

Only the one profile porthub puts on the wire is produced or accepted (docs/protocol.md):
the protected header is exactly ``alg``, ``typ`` and a one-certificate ``x5c``; there is no
unprotected header, no ``crit``, no unencoded payload and no key fetched from a URL. Anything
else is refused as ``malformed`` before a signature is even looked at.

Ed25519 signatures are made and checked by libsodium (through PyNaCl's bindings), which does
both in about half the time OpenSSL takes (docs/performance.md); keys, certificates and ES256
stay with ``cryptography``. Both implement RFC 8032 and refuse a non-canonical ``S``;
libsodium also refuses small-order keys and ``R`` values, which no CA-issued certificate
holds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import nacl.bindings
import nacl.exceptions

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)

from .. import jsontext
from ..errors import Rejected

EDDSA = "EdDSA"
ES256 = "ES256"
ALGORITHMS = (EDDSA, ES256)
TYP = "porthub+jws"
MEMBERS = ("payload", "protected", "signature")
HEADER_PARAMS = ("alg", "typ", "x5c")
# Named in the refusal because each would let the sender change how a receiver verifies:
# critical extensions, an unencoded payload, or a key fetched from a URL or sent bare.
_REFUSED_PARAMS = ("crit", "b64", "jku", "x5u", "jwk")

# \Z, not $: "$" also matches before a final newline, and "0\n" then reached the decoder
_B64URL = re.compile(r"^[A-Za-z0-9_-]*\Z")
_B64STD = re.compile(r"^[A-Za-z0-9+/]*={0,2}\Z")
_P256_BYTES = 32
_SIGNATURE_BYTES = 64  # Ed25519, and ES256 as r || s of 32 bytes each
# A peer sends the same protected header with every message (only its certificate changes,
# at a rollover), so the checked header is remembered by its exact base64url text. Only
# headers of a plausible size are remembered: a sender cannot fill memory with huge ones.
_HEADER_CACHE = 256
_HEADER_CACHE_MAX_CHARS = 8192


@dataclass(frozen=True)
class ParsedJWS:
    """A JWS whose structure was checked; its signature is not verified yet."""

    header: Mapping[str, Any]  # read only: shared by every message with the same header
    payload: bytes
    signing_input: bytes
    signature: bytes
    cert_der: bytes

    @property
    def alg(self) -> str:
        return self.header["alg"]


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url: no padding, no other alphabet, and the one canonical spelling.

    Canonical matters: otherwise the unused low bits of the last character could be changed
    without changing the decoded bytes, and two different wire forms would carry one message.
    """
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise Rejected("malformed", f"{what} is not unpadded base64url")
    data = base64.urlsafe_b64decode(_padded(text))
    if b64url_encode(data) != text:
        raise Rejected("malformed", f"{what} is not canonical base64url")
    return data


def _b64std_decode(text: Any, what: str) -> bytes:
    """Strict standard base64 with padding, as RFC 7515 §4.1.6 requires for ``x5c``."""
    if not isinstance(text, str) or not _B64STD.match(text) or len(text) % 4:
        raise Rejected("malformed", f"{what} is not padded standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise Rejected("malformed", f"{what} is not padded standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise Rejected("malformed", f"{what} is not canonical base64")
    return data


def strict_json(data: bytes, what: str) -> Any:
    """UTF-8 JSON without duplicate member names, NaN/Infinity or lone surrogates, else
    ``malformed`` (``hub.jsontext``).

    Duplicate names are refused because JSON parsers disagree on which one wins: a receiver
    must not read a different header or envelope than another implementation would.
    """
    try:
        return jsontext.loads(data)
    except ValueError as exc:  # UnicodeDecodeError included
        raise Rejected("malformed", f"{what} is not strict UTF-8 JSON: {exc}") from None


def algorithm_of(key: Any) -> str:
    """The JWS ``alg`` for a public or private key; ValueError for any other key type."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return EDDSA
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) \
            and isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise ValueError(f"unsupported key type {type(key).__name__}: use Ed25519 or P-256")


def protected_header(alg: str, cert_der: bytes) -> bytes:
    """The protected header, compact JSON in this member order."""
    header = {"alg": alg, "typ": TYP, "x5c": [base64.b64encode(cert_der).decode("ascii")]}
    return json.dumps(header, separators=(",", ":")).encode()


def serialize(payload: bytes, protected: bytes, signature: bytes) -> bytes:
    """Flattened JSON serialization of already-encoded parts (also used by test vectors)."""
    jws = {"payload": b64url_encode(payload), "protected": b64url_encode(protected),
           "signature": b64url_encode(signature)}
    return json.dumps(jws, separators=(",", ":")).encode()


def signing_input(payload: bytes, protected: bytes) -> bytes:
    return f"{b64url_encode(protected)}.{b64url_encode(payload)}".encode("ascii")


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign: its JWS ``alg`` and the function giving the JWS signature
    bytes of a signing input. Made once per key (``signer``): for Ed25519 libsodium's
    expanded secret key is derived here, not for every message."""

    alg: str
    sign: Callable[[bytes], bytes]

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.alg})"


def signer(private_key: Any) -> Signer:
    """The ``Signer`` of a ``cryptography`` Ed25519 or P-256 private key."""
    alg = algorithm_of(private_key)
    if alg == EDDSA:
        _public, secret = nacl.bindings.crypto_sign_seed_keypair(private_key.private_bytes_raw())
        return Signer(alg, lambda data: nacl.bindings.crypto_sign(data, secret)[:_SIGNATURE_BYTES])

    def es256(data: bytes) -> bytes:
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")

    return Signer(alg, es256)


def sign(payload: bytes, private_key: Any, cert_der: bytes) -> bytes:
    """Sign ``payload`` with the hub's key (a ``Signer`` or a private key); the certificate
    travels in ``x5c``."""
    return sign_with_digest(payload, private_key, cert_der)[0]


def sign_with_digest(payload: bytes, private_key: Any, cert_der: bytes) -> tuple[bytes, str]:
    """``sign``, and the digest of the result (``digest``) without parsing it again."""
    key = private_key if isinstance(private_key, Signer) else signer(private_key)
    protected_b64 = _encoded_header(key.alg, cert_der)
    payload_b64 = b64url_encode(payload)
    to_sign = f"{protected_b64}.{payload_b64}".encode("ascii")
    signature = key.sign(to_sign)
    # What json.dumps would write for these members: base64url needs no escaping.
    serialized = (f'{{"payload":"{payload_b64}","protected":"{protected_b64}",'
                  f'"signature":"{b64url_encode(signature)}"}}').encode("ascii")
    return serialized, _digest_of(to_sign)


@functools.lru_cache(maxsize=8)
def _encoded_header(alg: str, cert_der: bytes) -> str:
    return b64url_encode(protected_header(alg, cert_der))


def parse(data: bytes) -> ParsedJWS:
    """Check the structure of a flattened JWS; raise ``Rejected('malformed', ...)``."""
    jws = strict_json(data, "message")
    if not isinstance(jws, dict):
        raise Rejected("malformed", "message is not a JSON object")
    if "signatures" in jws:
        raise Rejected("malformed", "general JWS serialization is not accepted")
    if "header" in jws:
        raise Rejected("malformed", "an unprotected header is not accepted")
    if set(jws) != set(MEMBERS):
        raise Rejected("malformed", f"a JWS has exactly the members {', '.join(MEMBERS)}")
    protected_b64, payload_b64 = jws["protected"], jws["payload"]
    if isinstance(protected_b64, str) and len(protected_b64) <= _HEADER_CACHE_MAX_CHARS:
        header, cert_der = _remembered_header(protected_b64)
    else:
        header, cert_der = _protected(protected_b64)
    payload = b64url_decode(payload_b64, "payload")
    signature = b64url_decode(jws["signature"], "signature")
    return ParsedJWS(header=header, payload=payload,
                     signing_input=f"{protected_b64}.{payload_b64}".encode("ascii"),
                     signature=signature, cert_der=cert_der)


def payload_of(data: bytes) -> bytes:
    """The payload of a JWS this hub has already verified and stored; nothing is checked."""
    return base64.urlsafe_b64decode(_padded(json.loads(data)["payload"]))


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _protected(protected_b64: Any) -> tuple[Mapping[str, Any], bytes]:
    """The checked protected header (read only) and the DER certificate it carries."""
    header = strict_json(b64url_decode(protected_b64, "protected header"), "protected header")
    cert_der = _check_header(header)
    return MappingProxyType(header), cert_der


_remembered_header = functools.lru_cache(maxsize=_HEADER_CACHE)(_protected)


def _check_header(header: Any) -> bytes:
    """Check the protected header; return the DER certificate it carries."""
    if not isinstance(header, dict):
        raise Rejected("malformed", "protected header is not a JSON object")
    for name in _REFUSED_PARAMS:
        if name in header:
            raise Rejected("malformed", f"header parameter {name!r} is not accepted")
    unknown = sorted(set(header) - set(HEADER_PARAMS))
    if unknown:
        raise Rejected("malformed", f"unknown header parameters {', '.join(unknown)}")
    alg = header.get("alg")
    if alg == "none":
        raise Rejected("malformed", "alg 'none' (an unsigned message) is never accepted")
    if alg not in ALGORITHMS:
        raise Rejected("malformed", f"alg must be one of {', '.join(ALGORITHMS)}, got {alg!r}")
    if header.get("typ") != TYP:
        raise Rejected("malformed", f"typ must be {TYP!r}, got {header.get('typ')!r}")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or len(x5c) != 1:
        raise Rejected("malformed", "x5c must be a list of exactly one certificate")
    return _b64std_decode(x5c[0], "x5c certificate")


def verify_signature(parsed: ParsedJWS, public_key: Any, algorithm: str) -> bool:
    """True if the signature is valid for ``public_key``, whose algorithm is ``algorithm``.

    The header's ``alg`` must be the certificate's own algorithm: the key decides how to
    verify, never the sender's header alone.
    """
    if parsed.alg != algorithm or len(parsed.signature) != _SIGNATURE_BYTES:
        return False
    try:
        if algorithm == EDDSA and isinstance(public_key, ed25519.Ed25519PublicKey):
            nacl.bindings.crypto_sign_open(parsed.signature + parsed.signing_input,
                                           public_key.public_bytes_raw())
            return True
        if algorithm == ES256 and algorithm_of(public_key) == ES256:
            r = int.from_bytes(parsed.signature[:_P256_BYTES], "big")
            s = int.from_bytes(parsed.signature[_P256_BYTES:], "big")
            public_key.verify(encode_dss_signature(r, s), parsed.signing_input,
                              ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, nacl.exceptions.BadSignatureError, ValueError):
        return False
    return False


def digest(parsed: ParsedJWS) -> str:
    """What receipts name: ``sha256:`` + base64url of SHA-256 over the JWS signing input."""
    return _digest_of(parsed.signing_input)


def _digest_of(signing_input: bytes) -> str:
    return "sha256:" + b64url_encode(hashlib.sha256(signing_input).digest())
