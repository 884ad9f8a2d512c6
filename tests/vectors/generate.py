"""Regenerate docs/vectors/porthub-v1.json, the test vectors of docs/protocol.md.

Run from the repository root: ``python -m tests.vectors.generate``. Keys are made in a
temporary directory and thrown away; the file holds only certificates, the CRL and messages.
Every run makes new keys, so every run writes a different (equally valid) file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hub.envelope import format_time
from hub.security import jws
from tests.security_fixtures import (
    CLOCK_SKEW, MANIFEST, MAX_BYTES, PEERS, RECIPIENT, PKIWorld)

OUT = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "porthub-v1.json"
CERTIFICATES = ("aktau", "baku", "samsun", "kuryk", "aktau-expired", "aktau-revoked",
                "aktau-other-ca")


def build(root: Path, now: datetime) -> dict:
    """The vectors document, for a PKI made under ``root`` and checked at ``now``."""
    world = PKIWorld.build(root, now)
    vectors: list[dict] = []

    def add(name: str, reason: str | None, data: bytes, description: str) -> None:
        entry = {"name": name, "description": description, "expected_reason": reason,
                 "jws": data.decode("utf-8")}
        if reason is None:
            parsed = jws.parse(data)
            entry["message_id"] = json.loads(parsed.payload)["id"]
            entry["digest"] = jws.digest(parsed)
        vectors.append(entry)

    valid = world.message("aktau")
    add("valid-eddsa", None, valid, "a cargo manifest from aktau to baku, EdDSA")
    add("valid-es256", None,
        world.message("samsun", type="shipment.status",
                      body={"container": "CSQU3054383", "status": "discharged",
                            "location": "AZBAK"}),
        "a shipment status from samsun to baku, ES256 (P-256)")
    add("valid-receipt", None,
        world.message("aktau", type="hub.receipt", body={
            "message_id": "019ac9a1-7d3e-7c41-9a52-3f0e6b1d2c4a",
            "digest": "sha256:" + jws.b64url_encode(bytes(32)),
            "outcome": "accepted", "reason": None, "received_at": format_time(now)}),
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
        "context": {"recipient": RECIPIENT, "peers": PEERS, "max_bytes": MAX_BYTES,
                    "clock_skew": CLOCK_SKEW, "now": format_time(now)},
        "ca": world.ca_pem().decode(),
        "crl": world.crl.read_text(),
        "certificates": {name: world.cert_pem(name).decode() for name in CERTIFICATES},
        "vectors": vectors,
    }


def _dump(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _flip_payload_bit(data: bytes) -> bytes:
    parts = json.loads(data)
    payload = jws.b64url_decode(parts["payload"], "payload")
    at = payload.index(b'"gross_weight_kg":24000') + len(b'"gross_weight_kg":')
    flipped = payload[:at] + bytes([payload[at] ^ 0x01]) + payload[at + 1:]
    return _dump({**parts, "payload": jws.b64url_encode(flipped)})


def _flip_signature_bit(data: bytes) -> bytes:
    parts = json.loads(data)
    signature = bytearray(jws.b64url_decode(parts["signature"], "signature"))
    signature[10] ^= 0x01
    return _dump({**parts, "signature": jws.b64url_encode(bytes(signature))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        document = build(Path(tmp), now)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(document['vectors'])} vectors to {args.out}")


if __name__ == "__main__":
    main()
