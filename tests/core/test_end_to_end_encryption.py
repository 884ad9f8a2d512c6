"""End-to-end encryption between hubs on the in-memory transport: what the broker is given,
what arrives, and what a hub that requires encryption does with a plaintext message."""

from __future__ import annotations

import json
import sqlite3

from hub.security import jwe, jws
from tests.core.bodies import DECISION, STATUS
from tests.support.aio import run, wait_until
from tests.support.network import Network
from tests.support.sealed import encrypt, record_wire, sealed_header, sighup

CUSTOMS = ["customs.*"]


def inbox_jws(net: Network, hub_id: str, message_id: str) -> bytes:
    with sqlite3.connect(net.sandbox.root / hub_id / "data" / "hub.db") as conn:
        return conn.execute("SELECT jws FROM messages WHERE direction = 'in' AND id = ?",
                            (message_id,)).fetchone()[0]


def test_an_encrypted_type_crosses_the_broker_sealed_and_arrives_whole(tmp_path, monkeypatch):
    """Given aktau and baku that encrypt customs.*, a customs decision reaches the broker as a
    JWE that holds none of its content, the receipt comes back sealed too, a shipment status
    (not encrypted) goes as before, and baku delivers and stores the signed message."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    encrypt(net, CUSTOMS)
    wire = record_wire(monkeypatch)

    async def scenario() -> None:
        await net.start()
        try:
            aktau = net.hubs["aktau"]
            decision = await aktau.submit("customs.decision", DECISION, to="baku")
            status = await aktau.submit("shipment.status", STATUS, to="baku")
            await net.wait_settled("aktau", decision.ids + status.ids)
            assert sorted(e.type for e in net.delivered["baku"]) == ["customs.decision",
                                                                     "shipment.status"]
            assert next(e.body for e in net.delivered["baku"]
                        if e.type == "customs.decision") == DECISION
            stored = inbox_jws(net, "baku", decision.ids[0])
            assert json.loads(jws.parse(stored).payload)["body"] == DECISION
        finally:
            await net.stop()

    run(scenario())
    to_baku = [body for queue, body in wire if queue == "porthub.baku.inbox"]
    to_aktau = [body for queue, body in wire if queue == "porthub.aktau.inbox"]
    sealed = [body for body in to_baku if jwe.looks_encrypted(body)]
    assert sealed and to_aktau and all(jwe.looks_encrypted(b) for b in to_aktau)  # receipts
    for body in sealed + to_aktau:
        assert b"AZ-BAK-2025-000871" not in body and b"AKTBAK250001" not in body
        assert list(json.loads(body)) == list(jwe.MEMBERS)
        assert list(sealed_header(body)) == list(jwe.HEADER_PARAMS)
    plain = [body for body in to_baku if not jwe.looks_encrypted(body)]
    assert plain and all(json.loads(jws.parse(b).payload)["type"] == "shipment.status"
                         for b in plain)


def test_a_plaintext_message_of_an_encrypted_type_is_refused(tmp_path):
    """Given baku that requires customs.* encrypted and aktau that does not encrypt it, aktau's
    plaintext customs decision is refused (not_encrypted), answered with a negative receipt,
    and never handed over."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    encrypt(net, CUSTOMS, hubs=["baku"])
    encrypt(net, [], hubs=["aktau"])

    async def scenario() -> None:
        await net.start()
        try:
            sub = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", sub.ids, states=("rejected",))
            [row] = await net.hubs["aktau"].message(sub.ids[0])
            assert row["reason"] == "not_encrypted"
            await wait_until(lambda: net.hubs["baku"].metrics.value(
                "porthub_inbound_rejected_total", reason="not_encrypted") == 1, 5)
            assert net.delivered["baku"] == []
        finally:
            await net.stop()

    run(scenario())


def test_a_reload_that_turns_encryption_on_seals_from_then_on(tmp_path, monkeypatch):
    """Given aktau and baku running without encryption, when both files turn it on for
    customs.* and both hubs reload (SIGHUP), aktau's link to baku seals from then on and the
    customs decision arrives."""
    net = Network(tmp_path / "net", ["aktau", "baku"])
    wire = record_wire(monkeypatch)

    async def scenario() -> None:
        await net.start()
        try:
            assert not any(type(link.outlet).__name__ == "SealingOutlet"
                           for link in net.hubs["aktau"].links.values())
            encrypt(net, CUSTOMS)
            assert await sighup(net, "baku") and await sighup(net, "aktau")
            sub = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", sub.ids)
        finally:
            await net.stop()

    run(scenario())
    to_baku = [body for queue, body in wire if queue == "porthub.baku.inbox"]
    assert to_baku and all(jwe.looks_encrypted(body) for body in to_baku)
