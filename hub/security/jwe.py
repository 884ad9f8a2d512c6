"""JWE flattened JSON serialization (RFC 7516 §7.2.2) with ECDH-ES+A256KW over X25519
(RFC 7518 §4.6, RFC 8037) and A256GCM: a signed message sealed for one recipient hub.

As with JWS, only the one profile porthub puts on the wire is produced or accepted
(docs/protocol.md §7): the protected header is exactly ``alg``, ``enc``, ``epk``, ``kid``,
``typ`` and ``cty``; there is no unprotected header, no ``aad``, no compression and no
general serialization. Anything else is refused as ``malformed``; a well-formed JWE that
none of this hub's keys opens is ``undecryptable``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..errors import Rejected
from .jws import b64url_decode, b64url_encode, strict_json

ALG = "ECDH-ES+A256KW"
ENC = "A256GCM"
TYP = "porthub+jwe"
CTY = "porthub+jws"
MEMBERS = ("protected", "encrypted_key", "iv", "ciphertext", "tag")
HEADER_PARAMS = ("alg", "enc", "epk", "kid", "typ", "cty")
EPK_PARAMS = ("kty", "crv", "x")
_KEY_BYTES = 32       # A256KW key-encryption key and A256GCM content-encryption key
_WRAPPED_BYTES = 40   # AES key wrap of 32 bytes (RFC 3394)
_IV_BYTES = 12        # A256GCM: 96-bit IV
_TAG_BYTES = 16       # A256GCM: 128-bit tag
_X25519_BYTES = 32
_MARKER = b'"ciphertext"'


@dataclass(frozen=True)
class ParsedJWE:
    """A JWE whose structure was checked; it is not opened yet."""

    header: dict[str, Any]
    protected: str            # as received: it is the additional authenticated data
    epk: x25519.X25519PublicKey
    encrypted_key: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes

    @property
    def kid(self) -> str:
        return self.header["kid"]


def thumbprint(public_key: x25519.X25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an X25519 public key: the
    ``kid`` that tells a recipient which of its keys a message was sealed for."""
    jwk = {"crv": "X25519", "kty": "OKP", "x": b64url_encode(public_key.public_bytes_raw())}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def looks_encrypted(data: bytes) -> bool:
    """Whether ``data`` is meant as a JWE. The member name cannot occur in a JWS (its other
    strings are base64url), so this never sends a JWS down the JWE path."""
    return _MARKER in data


def _kek(shared: bytes) -> bytes:
    """Concat KDF (RFC 7518 §4.6.2): SHA-256, AlgorithmID = alg, no PartyU/PartyV info."""
    other_info = (len(ALG).to_bytes(4, "big") + ALG.encode("ascii") + bytes(4) + bytes(4)
                  + (_KEY_BYTES * 8).to_bytes(4, "big"))
    return ConcatKDFHash(hashes.SHA256(), _KEY_BYTES, other_info).derive(shared)


def protected_header(epk: x25519.X25519PublicKey, kid: str) -> bytes:
    """The protected header, compact JSON in this member order."""
    header = {"alg": ALG, "enc": ENC,
              "epk": {"kty": "OKP", "crv": "X25519", "x": b64url_encode(epk.public_bytes_raw())},
              "kid": kid, "typ": TYP, "cty": CTY}
    return json.dumps(header, separators=(",", ":")).encode()


def seal(plaintext: bytes, recipient: x25519.X25519PublicKey, kid: str | None = None) -> bytes:
    """Encrypt ``plaintext`` (a signed message) for the holder of ``recipient``'s key.

    ``kid`` is the key's thumbprint; only the test vectors name another one (a forgery)."""
    ephemeral = x25519.X25519PrivateKey.generate()
    protected = b64url_encode(protected_header(ephemeral.public_key(),
                                               kid or thumbprint(recipient)))
    kek = _kek(ephemeral.exchange(recipient))
    cek, iv = os.urandom(_KEY_BYTES), os.urandom(_IV_BYTES)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
    members = {"protected": protected, "encrypted_key": b64url_encode(aes_key_wrap(kek, cek)),
               "iv": b64url_encode(iv), "ciphertext": b64url_encode(sealed[:-_TAG_BYTES]),
               "tag": b64url_encode(sealed[-_TAG_BYTES:])}
    return json.dumps(members, separators=(",", ":")).encode()


def parse(data: bytes) -> ParsedJWE:
    """Check the structure of a flattened JWE; raise ``Rejected('malformed', ...)``."""
    jwe = strict_json(data, "message")
    if not isinstance(jwe, dict):
        raise Rejected("malformed", "message is not a JSON object")
    if "recipients" in jwe:
        raise Rejected("malformed", "general JWE serialization is not accepted")
    for name in ("header", "unprotected", "aad"):
        if name in jwe:
            raise Rejected("malformed", f"JWE member {name!r} is not accepted")
    if set(jwe) != set(MEMBERS):
        raise Rejected("malformed", f"a JWE has exactly the members {', '.join(MEMBERS)}")
    parts = {name: b64url_decode(jwe[name], name) for name in MEMBERS}
    for name, size in (("encrypted_key", _WRAPPED_BYTES), ("iv", _IV_BYTES),
                       ("tag", _TAG_BYTES)):
        if len(parts[name]) != size:
            raise Rejected("malformed", f"{name} must be {size} bytes")
    header = strict_json(parts["protected"], "JWE protected header")
    return ParsedJWE(header=header, protected=jwe["protected"], epk=_check_header(header),
                     encrypted_key=parts["encrypted_key"], iv=parts["iv"],
                     ciphertext=parts["ciphertext"], tag=parts["tag"])


def _check_header(header: Any) -> x25519.X25519PublicKey:
    """Check the protected header; return the sender's ephemeral public key."""
    if not isinstance(header, dict):
        raise Rejected("malformed", "JWE protected header is not a JSON object")
    if set(header) != set(HEADER_PARAMS):
        raise Rejected("malformed", f"the JWE protected header has exactly the parameters "
                       f"{', '.join(HEADER_PARAMS)}")
    for name, value in (("alg", ALG), ("enc", ENC), ("typ", TYP), ("cty", CTY)):
        if header[name] != value:
            raise Rejected("malformed", f"JWE {name} must be {value!r}, got {header[name]!r}")
    if not isinstance(header["kid"], str) or not header["kid"]:
        raise Rejected("malformed", "JWE kid must be a non-empty string")
    epk = header["epk"]
    if not isinstance(epk, dict) or set(epk) != set(EPK_PARAMS) \
            or epk["kty"] != "OKP" or epk["crv"] != "X25519":
        raise Rejected("malformed", "JWE epk must be an X25519 public key (kty OKP, crv X25519, x)")
    raw = b64url_decode(epk["x"], "epk x")
    if len(raw) != _X25519_BYTES:
        raise Rejected("malformed", f"epk x must be {_X25519_BYTES} bytes")
    return x25519.X25519PublicKey.from_public_bytes(raw)


def open_sealed(parsed: ParsedJWE, keys: Mapping[str, x25519.X25519PrivateKey]) -> bytes:
    """The plaintext, with the key named by ``kid``; ``Rejected('undecryptable')`` if this
    hub holds no such key or the message does not open with it (tampered, wrong key)."""
    key = keys.get(parsed.kid)
    if key is None:
        raise Rejected("undecryptable", f"sealed for key {parsed.kid}, which this hub does not "
                       "hold")
    try:
        # An all-zero shared secret (a small-order epk) is a ValueError in cryptography.
        cek = aes_key_unwrap(_kek(key.exchange(parsed.epk)), parsed.encrypted_key)
        return AESGCM(cek).decrypt(parsed.iv, parsed.ciphertext + parsed.tag,
                                   parsed.protected.encode("ascii"))
    except (ValueError, InvalidUnwrap, InvalidTag):
        raise Rejected("undecryptable", f"does not open with key {parsed.kid} (tampered, or "
                       "sealed with another key under its name)") from None
