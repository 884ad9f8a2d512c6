"""Regenerate docs/vectors/porthub-v1.json and porthub-v1-jwe.json, the test vectors of
docs/protocol.md.

Run from the repository root: ``python -m tests.vectors.generate``. Keys are made in a
temporary directory and thrown away; porthub-v1.json holds only certificates, the CRL and
messages. porthub-v1-jwe.json (encrypted messages) also publishes the recipient's test
decryption key, marked as such, so that any JOSE implementation can open its vectors.
Every run makes new keys, so every run writes different (equally valid) files.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from hub.envelope import format_time
from hub.security import jwe, jws
from tests.security_fixtures import (
    CLOCK_SKEW, MANIFEST, MAX_BYTES, PEERS, RECIPIENT, PKIWorld)

OUT = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "porthub-v1.json"
OUT_JWE = OUT.with_name("porthub-v1-jwe.json")
ENCRYPTED_TYPES = ["cargo.*"]  # the JWE vectors' context: what baku requires encrypted
TEST_KEY_WARNING = ("TEST MATERIAL ONLY: recipient_key is the private key of the test "
                    "certificate baku-enc, published so that anyone can open these vectors. "
                    "It protects nothing; never use it.")
CERTIFICATES = ("aktau", "baku", "samsun", "kuryk", "aktau-expired", "aktau-revoked",
                "aktau-other-ca")


def _adder(vectors: list[dict], member: str = "jws"):
    """``add(name, reason, data, description[, inner])``: one vector; a valid one also gives
    the id and digest of its signed message (``inner``, when ``data`` is encrypted)."""
    def add(name: str, reason: str | None, data: bytes, description: str,
            inner: bytes | None = None) -> None:
        entry = {"name": name, "description": description, "expected_reason": reason,
                 member: data.decode("utf-8")}
        if reason is None:
            parsed = jws.parse(inner or data)
            entry["message_id"] = json.loads(parsed.payload)["id"]
            entry["digest"] = jws.digest(parsed)
            if inner is not None:
                entry["jws"] = inner.decode("utf-8")
        vectors.append(entry)
    return add


def _context(now: datetime, **extra) -> dict:
    return {"recipient": RECIPIENT, "peers": PEERS, "max_bytes": MAX_BYTES,
            "clock_skew": CLOCK_SKEW, "now": format_time(now), **extra}


def build(root: Path, now: datetime, world: PKIWorld | None = None) -> dict:
    """The vectors document, for a PKI made under ``root`` and checked at ``now``."""
    world = world or PKIWorld.build(root, now)
    vectors: list[dict] = []
    add = _adder(vectors)

    valid = world.message("aktau")
    add("valid-eddsa", None, valid, "a cargo manifest from aktau to baku, EdDSA")
    add("valid-es256", None,
        world.message("samsun", type="shipment.status",
                      body={"container": "CSQU3054383", "status": "discharged",
                            "location": "AZBAK"}),
        "a shipment status from samsun to baku, ES256 (P-256)")
    add("valid-receipt", None,
        world.message("aktau", type="hub.receipt", body={"entries": [
            {"message_id": "019ac9a1-7d3e-7c41-9a52-3f0e6b1d2c4a",
             "digest": "sha256:" + jws.b64url_encode(bytes(32)),
             "outcome": "accepted", "reason": None, "received_at": format_time(now)},
            {"message_id": "019ac9a1-7d3f-7a02-8b11-0c2d4e6f8a9b",
             "digest": "sha256:" + jws.b64url_encode(bytes(range(32))),
             "outcome": "rejected", "reason": "schema_invalid",
             "received_at": format_time(now)}]}),
        "a receipt from aktau: hub.receipt is allowed from every peer")
    add("too-large", "too_large",
        world.message("aktau", body={**MANIFEST, "remarks": "x" * MAX_BYTES}),
        f"a validly signed message larger than max_bytes ({MAX_BYTES})")
    add("malformed-not-json", "malformed", b"this is not JSON", "not JSON at all")
    add("malformed-not-jws", "malformed", b'{"message":"hello"}', "a JSON object, not a JWS")
    parts = json.loads(valid)
    add("malformed-compact", "malformed",
        f"{parts['protected']}.{parts['payload']}.{parts['signature']}".encode(),
        "the valid message in JWS compact serialization, which porthub does not accept")
    unsigned = jws.protected_header("none", world.identity("aktau").cert_der)
    add("malformed-alg-none", "malformed",
        jws.serialize(world.envelope().to_bytes(), unsigned, b""),
        "an unsigned message: alg none")
    add("malformed-unprotected-header", "malformed",
        _dump({**parts, "header": {"kid": "aktau"}}),
        "the valid message plus an unprotected header member")
    add("malformed-envelope", "malformed",
        world.identity("aktau").sign(b'{"hello":"baku"}'),
        "a validly signed payload that is not an envelope")
    add("unknown-sender", "unknown_sender", world.message("kuryk"),
        "from kuryk, whose certificate is valid but which is not a peer of baku")
    add("untrusted-certificate", "untrusted_certificate", world.message("aktau-other-ca"),
        "signed with a certificate from another CA of the same name")
    add("certificate-expired", "certificate_expired", world.message("aktau-expired"),
        "signed with a certificate that expired the day before 'now'")
    add("certificate-revoked", "certificate_revoked", world.message("aktau-revoked"),
        "signed with a certificate listed in the CRL")
    add("certificate-mismatch", "certificate_mismatch",
        world.message("samsun", sender="aktau"),
        "says it is from aktau, signed with samsun's (valid) certificate")
    add("bad-signature-payload-bit", "bad_signature", _flip_payload_bit(valid),
        "the valid message with one bit of the payload flipped (gross weight 24000 -> 34000)")
    add("bad-signature-signature-bit", "bad_signature", _flip_signature_bit(valid),
        "the valid message with one bit of the signature flipped")
    add("wrong-recipient", "wrong_recipient", world.message("aktau", to="samsun"),
        "from aktau to samsun, delivered to baku")
    add("type-not-allowed", "type_not_allowed",
        world.message("aktau", type="customs.decision", body={"decision": "released"}),
        "aktau may send cargo.*, vessel.* and shipment.status, not customs.decision")
    add("expired", "expired",
        world.message("aktau", created=now - timedelta(days=2),
                      expires=now - timedelta(hours=1)),
        "expired an hour before 'now'")
    add("clock-skew", "clock_skew",
        world.message("aktau", created=now + timedelta(minutes=10)),
        f"created 10 minutes after 'now', beyond the allowed skew of {CLOCK_SKEW:g} s")

    return {
        "title": "porthub protocol v1 test vectors",
        "regenerate": "python -m tests.vectors.generate",
        "context": _context(now),
        "ca": world.ca_pem().decode(),
        "crl": world.crl.read_text(),
        "certificates": {name: world.cert_pem(name).decode() for name in CERTIFICATES},
        "vectors": vectors,
    }


def build_jwe(root: Path, now: datetime, world: PKIWorld | None = None) -> dict:
    """The encrypted vectors (docs/protocol.md §7), for the same kind of PKI as ``build``."""
    world = world or PKIWorld.build(root, now)
    enc_cert, enc_key_path = world.encryption_paths(RECIPIENT)
    key = serialization.load_pem_private_key(enc_key_path.read_bytes(), password=None)
    recipient = key.public_key()
    stranger = x25519.X25519PrivateKey.generate().public_key()
    vectors: list[dict] = []
    add = _adder(vectors, member="message")

    def sealed(name: str, reason: str | None, inner: bytes, description: str) -> None:
        add(name, reason, jwe.seal(inner, recipient), description, inner)

    manifest = world.message("aktau")
    sealed("valid-jwe", None, manifest,
           "a cargo manifest from aktau to baku (EdDSA), sealed for baku's encryption key")
    status = world.message("samsun", type="shipment.status",
                           body={"container": "CSQU3054383", "status": "discharged",
                                 "location": "AZBAK"})
    add("valid-plaintext", None, status,
        "a shipment status from samsun in plaintext: not among the encrypted types")
    add("not-encrypted", "not_encrypted", manifest,
        f"the cargo manifest in plaintext, but baku requires {', '.join(ENCRYPTED_TYPES)} "
        "encrypted")
    add("undecryptable-other-key", "undecryptable", jwe.seal(manifest, stranger),
        "sealed for another X25519 key (its kid is not baku's)")
    add("undecryptable-wrong-key", "undecryptable",
        jwe.seal(manifest, stranger, kid=jwe.thumbprint(recipient)),
        "sealed for another key, but naming baku's key in kid")
    add("undecryptable-ciphertext-bit", "undecryptable",
        _flip_bit(jwe.seal(manifest, recipient), "ciphertext", 10),
        "valid-jwe's kind of message with one bit of the ciphertext flipped")
    add("undecryptable-tag-bit", "undecryptable",
        _flip_bit(jwe.seal(manifest, recipient), "tag", 0),
        "valid-jwe's kind of message with one bit of the authentication tag flipped")
    add("malformed-jwe-unprotected", "malformed",
        _dump({**json.loads(jwe.seal(manifest, recipient)), "unprotected": {"zip": "DEF"}}),
        "a sealed message with an unprotected header member")
    add("malformed-jwe-zip", "malformed", _with_header(jwe.seal(manifest, recipient), zip="DEF"),
        "a sealed message whose protected header adds zip (compression is not accepted)")
    add("jwe-wrong-recipient", "wrong_recipient",
        jwe.seal(world.message("aktau", to="samsun"), recipient),
        "opens, but the signed message inside is from aktau to samsun: every check runs on it")
    add("jwe-bad-signature", "bad_signature",
        jwe.seal(_flip_signature_bit(manifest), recipient),
        "opens, but the signature of the message inside has one bit flipped")
    return {
        "title": "porthub protocol v1 test vectors: encrypted messages",
        "regenerate": "python -m tests.vectors.generate",
        "warning": TEST_KEY_WARNING,
        "context": _context(now, encrypted_types=ENCRYPTED_TYPES),
        "ca": world.ca_pem().decode(),
        "crl": world.crl.read_text(),
        "certificates": {name: world.cert_pem(name).decode() for name in ("aktau", "samsun")}
        | {"baku-enc": enc_cert.read_text()},
        "recipient_key": {"kty": "OKP", "crv": "X25519",
                          "x": jws.b64url_encode(recipient.public_bytes_raw()),
                          "d": jws.b64url_encode(key.private_bytes_raw()),
                          "kid": jwe.thumbprint(recipient)},
        "vectors": vectors,
    }


def _with_header(data: bytes, **params) -> bytes:
    parts = json.loads(data)
    header = json.loads(jws.b64url_decode(parts["protected"], "protected"))
    protected = json.dumps({**header, **params}, separators=(",", ":")).encode()
    return _dump({**parts, "protected": jws.b64url_encode(protected)})


def _dump(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _flip_payload_bit(data: bytes) -> bytes:
    parts = json.loads(data)
    payload = jws.b64url_decode(parts["payload"], "payload")
    at = payload.index(b'"gross_weight_kg":24000') + len(b'"gross_weight_kg":')
    flipped = payload[:at] + bytes([payload[at] ^ 0x01]) + payload[at + 1:]
    return _dump({**parts, "payload": jws.b64url_encode(flipped)})


def _flip_signature_bit(data: bytes) -> bytes:
    return _flip_bit(data, "signature", 10)


def _flip_bit(data: bytes, member: str, at: int) -> bytes:
    """One bit flipped in byte ``at`` of the decoded ``member`` of a JWS or JWE."""
    parts = json.loads(data)
    raw = bytearray(jws.b64url_decode(parts[member], member))
    raw[at] ^= 0x01
    return _dump({**parts, member: jws.b64url_encode(bytes(raw))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--out-jwe", type=Path, default=OUT_JWE)
    args = parser.parse_args()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        world = PKIWorld.build(Path(tmp), now)
        documents = {args.out: build(Path(tmp), now, world),
                     args.out_jwe: build_jwe(Path(tmp), now, world)}
    for out, document in documents.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {len(document['vectors'])} vectors to {out}")


if __name__ == "__main__":
    main()
