"""Bad input reaching a hub's inbox: each is refused with its reason code, counted, audited,
never handed over, and does not block or lose the good messages behind it."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from hub.envelope import Envelope
from hub.ids import new_message_id
from hub.security import jwe, jws, pki
from hub.security.identity import Identity
from hub.verify import REASONS
from tests.core.bodies import DECISION, STATUS
from tests.support.aio import run, wait_until
from tests.support.network import Network

POLICY = {"aktau": ["cargo.*", "vessel.*", "shipment.status"], "*": ["*"]}
INBOX = "porthub.baku.inbox"


@pytest.fixture
def world(tmp_path):
    """aktau, baku and samsun; extra identities for aktau made before baku starts (so the CRL
    baku loads already lists the revoked one)."""
    net = Network(tmp_path / "net", ["aktau", "baku", "samsun"], policy=POLICY,
                  extra={"limits": {"max_message_bytes": 8192}})
    ca = net.sandbox.ca_dir
    now = datetime.now(timezone.utc)
    ids = {}

    def identity(name, hub_id="aktau", ca_dir=ca, **kw):
        cert, key = pki.issue(ca_dir, hub_id, tmp_path / name, **kw)
        ids[name] = Identity.load(key, cert)
        return cert

    ids["aktau"] = Identity.load(tmp_path / "net/aktau/tls/aktau.key",
                                 tmp_path / "net/aktau/tls/aktau.crt")
    identity("expired", not_before=now - timedelta(days=10), not_after=now - timedelta(days=1))
    pki.revoke(ca, identity("revoked"))
    pki.make_crl(ca, ca / "ca.crl")
    identity("mallory", hub_id="mallory")
    pki.init_ca(tmp_path / "other-ca")
    identity("other_ca", ca_dir=tmp_path / "other-ca")
    return net, ids


def envelope(**fields) -> Envelope:
    now = datetime.now(timezone.utc)
    base = dict(id=new_message_id(), type="shipment.status", sender="aktau", to="baku",
                created=now, expires=now + timedelta(days=1), body=STATUS,
                correlation_id="AKTBAK250001")
    base.update(fields)
    return Envelope(**base)


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def flip_in_member(signed: bytes, member: str) -> bytes:
    """One bit flipped in the decoded ``member`` (payload or signature), re-encoded."""
    obj = json.loads(signed)
    raw = bytearray(jws.b64url_decode(obj[member], member))
    raw[len(raw) // 2] ^= 0x01
    obj[member] = jws.b64url_encode(bytes(raw))
    return json.dumps(obj).encode()


def cases(ids):
    now = datetime.now(timezone.utc)
    good = ids["aktau"].sign(envelope().to_bytes())
    return {
        "malformed JSON": (b'{"payload": "abc", ', "malformed"),
        "not a JWS": (b'{"hello": "world"}', "malformed"),
        "sealed for a key baku does not hold": (
            jwe.seal(good, x25519.X25519PrivateKey.generate().public_key()), "undecryptable"),
        "oversize": (ids["aktau"].sign(envelope(body={**STATUS, "note": "x" * 200}).to_bytes())
                     + b" " * 9000, "too_large"),
        "unknown sender": (ids["mallory"].sign(envelope(sender="mallory").to_bytes()),
                           "unknown_sender"),
        "certificate from another CA": (ids["other_ca"].sign(envelope().to_bytes()),
                                        "untrusted_certificate"),
        "expired certificate": (ids["expired"].sign(envelope().to_bytes()),
                                "certificate_expired"),
        "revoked certificate": (ids["revoked"].sign(envelope().to_bytes()),
                                "certificate_revoked"),
        "flipped bit in payload": (flip_in_member(good, "payload"), None),
        "flipped bit in signature": (flip_in_member(good, "signature"), "bad_signature"),
        "wrong recipient": (ids["aktau"].sign(envelope(to="samsun").to_bytes()),
                            "wrong_recipient"),
        "type not allowed": (ids["aktau"].sign(envelope(type="customs.decision",
                                                        body=DECISION).to_bytes()),
                             "type_not_allowed"),
        "expired message": (ids["aktau"].sign(envelope(created=now - timedelta(days=2),
                                                       expires=now - timedelta(days=1))
                                              .to_bytes()), "expired"),
        "dated beyond the clock skew": (ids["aktau"].sign(envelope(
            created=now + timedelta(hours=1), expires=now + timedelta(days=1)).to_bytes()),
            "clock_skew"),
        "invalid body": (ids["aktau"].sign(envelope(body={"status": "?"}).to_bytes()),
                         "schema_invalid"),
    }


CASES = ["malformed JSON", "not a JWS", "sealed for a key baku does not hold", "oversize", "unknown sender",
         "certificate from another CA", "expired certificate", "revoked certificate",
         "flipped bit in payload", "flipped bit in signature", "wrong recipient",
         "type not allowed", "expired message", "dated beyond the clock skew", "invalid body"]


def audit_reasons(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [json.loads(d).get("reason") for (d,) in
                conn.execute("SELECT detail FROM audit WHERE event = 'rejected'")]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_its_reason(world, case) -> None:
    """Given a bad message in baku's inbox followed by a good one from aktau, the bad one is
    refused with its reason (metric and audit), never handed over, and the good one is."""
    net, ids = world
    data, reason = cases(ids)[case]

    async def scenario() -> None:
        await net.start("aktau", "baku")
        try:
            net.broker.publish(INBOX, data)
            sub = await net.hubs["aktau"].submit("shipment.status", STATUS, to="baku")
            await net.wait_settled("aktau", sub.ids)
            await net.wait_delivered("baku", 1)
            metrics = net.hubs["baku"].metrics

            def refused(r: str) -> float:
                return metrics.value("porthub_inbound_rejected_total", reason=r)

            await wait_until(lambda: sum(map(refused, REASONS)) >= 1, 5, what="the refusal")
            expected = reason
            if reason is None:  # a bit flip in the payload breaks its JSON or its signature
                expected = "bad_signature" if refused("bad_signature") else "malformed"
            assert sum(map(refused, REASONS)) == 1
            assert metrics.value("porthub_inbound_rejected_total", reason=expected) == 1
            assert [e.id for e in net.delivered["baku"]] == sub.ids
            assert net.broker.queues[INBOX].dead == [data]
        finally:
            await net.stop()
        assert expected in audit_reasons(net.sandbox.root / "baku/data/hub.db")

    run(scenario())


def test_replay_of_a_delivered_message_is_answered_not_delivered(world) -> None:
    """Given a message delivered to baku, the same bytes replayed into baku's inbox get the
    original receipt again and are not handed over a second time."""
    net, _ids = world

    async def scenario() -> None:
        await net.start("aktau", "baku")
        try:
            sub = await net.hubs["aktau"].submit("shipment.status", STATUS, to="baku")
            await net.wait_settled("aktau", sub.ids)
            [row] = await net.hubs["aktau"].message(sub.ids[0])
            signed = await net.hubs["aktau"].store._writer.run(lambda c: c.execute(
                "SELECT jws FROM messages WHERE id = ?", (sub.ids[0],)).fetchone()[0])
            for _ in range(3):
                net.broker.publish(INBOX, signed)
            metrics = net.hubs["baku"].metrics
            await wait_until(lambda: metrics.value("porthub_inbound_rejected_total",
                                                   reason="duplicate") == 3, 5)
            assert [e.id for e in net.delivered["baku"]] == sub.ids
            assert net.duplicates("baku") == []
        finally:
            await net.stop()

    run(scenario())


def test_negative_receipt_marks_the_message_rejected_at_the_sender(world) -> None:
    """Given baku's policy that aktau may not send customs.*, aktau's customs decision is
    answered with a negative receipt and shows as rejected (type_not_allowed) at aktau."""
    net, _ids = world

    async def scenario() -> None:
        await net.start("aktau", "baku")
        try:
            sub = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", sub.ids, states=("rejected",))
            [row] = await net.hubs["aktau"].message(sub.ids[0])
            assert row["reason"] == "type_not_allowed"
            assert net.hubs["aktau"].metrics.value(
                "porthub_messages_rejected_total", peer="baku", reason="type_not_allowed") == 1
            assert net.delivered["baku"] == []
        finally:
            await net.stop()

    run(scenario())
