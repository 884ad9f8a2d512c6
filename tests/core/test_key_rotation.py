"""Key rotation: a hub rolls its signing certificate or its encryption key while messages are
in flight, and none of them is refused for it; revocation reaches a running hub through its
CRL, on SIGHUP and on a timer, and a bad CRL file never replaces a good one."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from hub import daemon
from hub.envelope import Envelope
from hub.errors import Rejected
from hub.ids import new_message_id
from hub.security import jwe, jws, pki
from tests.core.bodies import DECISION, STATUS
from tests.support.aio import run, wait_until
from tests.support.network import Network
from tests.support.sealed import configure, encrypt, kid_of, record_wire, sighup


def inbox_certs(net: Network, hub_id: str) -> dict[str, bytes]:
    """The x5c certificate of every message in ``hub_id``'s inbox, by message id."""
    with sqlite3.connect(net.sandbox.root / hub_id / "data" / "hub.db") as conn:
        rows = conn.execute("SELECT id, jws FROM messages WHERE direction = 'in'").fetchall()
    return {message_id: jws.parse(data).cert_der for message_id, data in rows}


def new_signing_certificate(net: Network, hub_id: str) -> None:
    """Issue ``hub_id`` a new key and certificate and point its file at them."""
    cert, key = pki.issue(net.sandbox.ca_dir, hub_id, net.sandbox.root / hub_id / "tls-new")
    configure(net, hub_id, hub={"key": str(key), "cert": str(cert)})


@pytest.mark.parametrize("switch", ["sighup", "restart"])
def test_a_message_signed_with_the_old_certificate_is_accepted_after_the_switch(tmp_path,
                                                                                switch):
    """Given a message aktau signed with its old certificate, still in transit (baku is down)
    when aktau switches to a new certificate (SIGHUP or restart), baku accepts it when it
    comes back, and aktau's messages signed with the new certificate as well."""
    net = Network(tmp_path / "net", ["aktau", "baku"])

    async def scenario() -> None:
        await net.start()
        try:
            old_cert = net.hubs["aktau"].identity.cert_der
            await net.stop("baku")
            before = await net.hubs["aktau"].submit("shipment.status", STATUS, to="baku")
            await net.wait_settled("aktau", before.ids, states=("sent",))
            new_signing_certificate(net, "aktau")
            if switch == "sighup":
                assert await sighup(net, "aktau")
            else:
                await net.stop("aktau")
                await net.start("aktau")
            assert net.hubs["aktau"].identity.cert_der != old_cert
            after = await net.hubs["aktau"].submit("shipment.status", STATUS, to="baku")
            await net.start("baku")
            await net.wait_settled("aktau", before.ids + after.ids)
            certs = inbox_certs(net, "baku")
            assert certs[before.ids[0]] == old_cert
            assert certs[after.ids[0]] == net.hubs["aktau"].identity.cert_der
            assert net.hubs["baku"].metrics.value("porthub_inbound_rejected_total",
                                                  reason="certificate_mismatch") == 0
        finally:
            await net.stop()

    run(scenario())


@pytest.mark.parametrize("keeps_old_key", [True, False])
def test_a_message_sealed_for_the_old_encryption_key_opens_after_the_rotation(
        tmp_path, monkeypatch, keeps_old_key):
    """Given a customs decision sealed for baku's old encryption key and still in transit
    when baku rolls to a new key, baku opens it while it keeps the old key among its
    previous keys (and refuses it, undecryptable, once it dropped it); aktau, given baku's
    new certificate, seals what it sends next for the new key."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    encrypt(net, ["customs.*"])
    old_cert = net.sandbox.root / "baku" / "enc" / "baku-enc.crt"
    wire = record_wire(monkeypatch)

    async def scenario() -> None:
        await net.start()
        try:
            await net.stop("baku")
            before = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", before.ids, states=("sent",))
            await net.stop("aktau")  # nothing is sealed again for the old key from here on

            cert, key = net.sandbox.issue_encryption("baku", "enc-new",
                                                     not_before=datetime.now(timezone.utc))
            previous = [str(old_cert.with_suffix(".key"))] if keeps_old_key else []
            configure(net, "baku", encryption={
                "key": str(key), "cert": str(cert), "previous_keys": previous,
                "peer_certs": str(net.sandbox.peer_certs), "types": ["customs.*"]})
            await net.start("baku", "aktau")  # aktau reads both of baku's certificates
            baku = net.hubs["baku"]
            if not keeps_old_key:
                await wait_until(lambda: baku.metrics.value(
                    "porthub_inbound_rejected_total", reason="undecryptable") >= 1, 10)
                assert net.delivered["baku"] == []
                return
            await net.wait_settled("aktau", before.ids)
            assert baku.metrics.value("porthub_inbound_rejected_total",
                                      reason="undecryptable") == 0
            after = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", after.ids)
            assert len(net.delivered["baku"]) == 2
            sealed = [jwe.parse(body).kid for queue, body in wire
                      if queue == "porthub.baku.inbox" and jwe.looks_encrypted(body)]
            assert sealed[0] == kid_of(old_cert) and sealed[-1] == kid_of(cert)
        finally:
            await net.stop()

    run(scenario())


def test_peers_accept_both_certificates_until_the_old_one_is_revoked(tmp_path):
    """Given aktau's old and new certificates, baku accepts messages signed with either;
    once the old one is revoked and baku reloads (SIGHUP), only the new one is accepted."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    old_cert = net.sandbox.config("aktau").hub.cert

    async def scenario() -> None:
        await net.start("baku")
        try:
            old = daemon.load(net.sandbox.config_paths["aktau"])[1]
            new_signing_certificate(net, "aktau")
            new = daemon.load(net.sandbox.config_paths["aktau"])[1]
            verifier = net.hubs["baku"].verifier
            message = payload_from_aktau()
            for identity in (old, new):
                verifier.verify(identity.sign(message))

            pki.revoke(net.sandbox.ca_dir, old_cert)
            pki.make_crl(net.sandbox.ca_dir, net.sandbox.ca_dir / "ca.crl")
            assert await sighup(net, "baku")

            with pytest.raises(Rejected) as caught:
                net.hubs["baku"].verifier.verify(old.sign(message))
            assert caught.value.reason == "certificate_revoked"
            net.hubs["baku"].verifier.verify(new.sign(message))
        finally:
            await net.stop()

    run(scenario())


def test_the_crl_is_refreshed_on_a_timer_and_a_bad_one_keeps_the_last_good(tmp_path, caplog):
    """Given baku re-reading its CRL every 100 ms, a revocation published in the file reaches
    it without a reload; then a CRL file that is garbage, older or gone is logged and counted
    and the last good CRL stays in force."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    configure(net, "baku", hub={"crl_refresh": "100ms"})
    crl = net.sandbox.ca_dir / "ca.crl"
    older = crl.read_bytes()

    async def scenario() -> None:
        await net.start("baku")
        try:
            baku = net.hubs["baku"]
            aktau = daemon.load(net.sandbox.config_paths["aktau"])[1]
            message = aktau.sign(payload_from_aktau())
            baku.verifier.verify(message)

            pki.revoke(net.sandbox.ca_dir, net.sandbox.config("aktau").hub.cert)
            pki.make_crl(net.sandbox.ca_dir, crl)
            await wait_until(lambda: refused(baku, message) == "certificate_revoked", 5,
                             what="the new CRL to be read")

            failures = baku.metrics.value("porthub_crl_refresh_failures_total")
            for bad in (b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n", older,
                        None):
                if bad is None:
                    crl.unlink()  # unreadable
                else:
                    crl.write_bytes(bad)
                await wait_until(lambda: baku.metrics.value(
                    "porthub_crl_refresh_failures_total") > failures, 5, what="a failure")
                failures = baku.metrics.value("porthub_crl_refresh_failures_total")
                assert refused(baku, message) == "certificate_revoked"
        finally:
            await net.stop()

    run(scenario())
    assert "keeping the last good CRL" in caplog.text


def payload_from_aktau() -> bytes:
    """A shipment status from aktau to baku, to be signed."""
    now = datetime.now(timezone.utc)
    return Envelope(id=new_message_id(), type="shipment.status", sender="aktau", to="baku",
                    created=now, expires=now + timedelta(days=1), body=STATUS).to_bytes()


def refused(hub, message: bytes) -> str | None:
    """The reason ``hub`` refuses ``message`` for, or None."""
    try:
        hub.verifier.verify(message)
    except Rejected as exc:
        return exc.reason
    return None
