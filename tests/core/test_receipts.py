"""Receipts answer many messages at once: what the intake takes from the inbox together is
committed together and answered with one signed receipt per sender (docs/protocol.md)."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta

from hub.envelope import Envelope, utc
from hub.ids import new_message_id
from hub.security import jws
from hub.security.identity import Identity
from hub.store import Outgoing, Store
from tests.core.bodies import STATUS, status
from tests.support.aio import run, wait_until
from tests.support.network import Network


def _body(receipt: bytes) -> dict:
    return json.loads(jws.parse(receipt).payload)


def _signed(net: Network, sender: str, to: str, body: dict,
            type: str = "shipment.status") -> tuple[str, bytes]:
    config = net.sandbox.config(sender)
    identity = Identity.load(config.hub.key, config.hub.cert)
    now = utc(time.time())
    envelope = Envelope(id=new_message_id(), type=type, sender=sender, to=to, created=now,
                        expires=now + timedelta(hours=1), body=body)
    return envelope.id, identity.sign(envelope.to_bytes())


def test_a_backlog_is_answered_with_few_receipts_each_naming_its_messages(tmp_path) -> None:
    """Given 60 messages waiting in baku's inbox, when baku starts it takes them in batches:
    every message is handed over once and settled at aktau by a receipt that names it with
    its digest, and far fewer receipts than messages crossed back."""
    net = Network(tmp_path, ["aktau", "baku"], extra={"retry": {"window": 60}})

    async def scenario() -> None:
        await net.start("baku")
        await net.stop("baku")  # its inbox exists on the broker; nobody reads it
        await net.start("aktau")
        try:
            aktau = net.hubs["aktau"]
            ids = [i for n in range(60)
                   for i in (await aktau.submit("shipment.status", status(n), to="baku")).ids]
            await wait_until(lambda: aktau.metrics.value("porthub_messages_sent_total",
                                                         peer="baku") == 60, 10)
            await net.start("baku")
            await net.wait_settled("aktau", ids)
            await net.wait_delivered("baku", 60)
            assert net.duplicates("baku") == []
            receipt_ids = set()
            for message_id in ids:
                [row] = [r for r in await aktau.message(message_id) if r["direction"] == "out"]
                receipt = _body(await aktau.store.receipt("out", message_id))
                [entry] = [e for e in receipt["body"]["entries"]
                           if e["message_id"] == message_id]
                assert entry["digest"] == row["digest"] and entry["outcome"] == "accepted"
                assert receipt["from"] == "baku" and receipt["to"] == "aktau"
                assert len(receipt["body"]["entries"]) <= 16  # fits any peer's size limit
                receipt_ids.add(receipt["id"])
            assert len(receipt_ids) <= 10, f"{len(receipt_ids)} receipts for 60 messages"
        finally:
            await net.stop()

    run(scenario())


def test_one_batch_one_receipt_with_an_entry_per_message_and_duplicates_answered_again(
        tmp_path) -> None:
    """Given baku's inbox holds two good messages from aktau, a copy of the first and one
    whose body breaks its schema, when baku takes them in: one receipt answers all three
    messages (accepted, accepted, rejected schema_invalid), the copy is not handed over, and
    a later copy is answered with that very receipt."""
    net = Network(tmp_path, ["aktau", "baku"])
    inbox, receipts = net.broker.declare("porthub.baku.inbox"), \
        net.broker.declare("porthub.aktau.inbox")  # aktau is not running: receipts wait here
    first, first_jws = _signed(net, "aktau", "baku", status(1))
    second, second_jws = _signed(net, "aktau", "baku", status(2))
    broken, broken_jws = _signed(net, "aktau", "baku", {**STATUS, "container": "NOT A BOX"})
    for raw in (first_jws, second_jws, first_jws, broken_jws):
        inbox.put(raw)

    async def scenario() -> None:
        await net.start("baku")
        try:
            await net.wait_delivered("baku", 2)
            await wait_until(lambda: len(receipts.ready) >= 1, 10, what="the receipt")
            [(receipt, _redelivered)] = list(receipts.ready)
            entries = {e["message_id"]: (e["outcome"], e["reason"])
                       for e in _body(receipt)["body"]["entries"]}
            assert entries == {first: ("accepted", None), second: ("accepted", None),
                               broken: ("rejected", "schema_invalid")}
            baku = net.hubs["baku"]
            assert baku.metrics.value("porthub_inbound_rejected_total", reason="duplicate") == 1
            assert baku.metrics.value("porthub_inbound_rejected_total",
                                      reason="schema_invalid") == 1
            assert sorted(e.id for e in net.delivered["baku"]) == sorted([first, second])
            assert await baku.store.receipt("in", first) == receipt
            assert await baku.store.receipt("in", second) == receipt

            inbox.put(first_jws)  # a resend, long after: the stored receipt again
            await wait_until(lambda: len(receipts.ready) >= 2, 10, what="the second receipt")
            assert receipts.ready[1][0] == receipt
            assert len(net.delivered["baku"]) == 2
        finally:
            await net.stop()

    run(scenario())


def _outgoing(store_path, peer: str = "baku") -> tuple[Store, list[Outgoing]]:
    store = Store(store_path)
    now = time.time()
    messages = [Outgoing(id=new_message_id(), peer=peer, type="shipment.status",
                         correlation_id=None, created=now, expires=now + 3600,
                         digest=f"sha256:{n:043d}", jws=b"{}") for n in range(2)]
    return store, messages


def test_a_receipt_settles_its_matching_entries_and_nothing_else(tmp_path) -> None:
    """Given two messages sent to baku, a receipt from baku with an entry for each, one for a
    message never sent and one with another digest settles exactly the two that match; the
    same receipt again settles nothing more."""
    store, (one, two) = _outgoing(tmp_path / "hub.db")

    def entry(message_id: str, digest: str) -> dict:
        return {"message_id": message_id, "digest": digest, "outcome": "accepted",
                "reason": None, "received_at": "2026-11-28T10:00:00Z"}

    async def scenario() -> None:
        try:
            await store.add_outgoing([one, two], time.time(), None, None)
            entries = [entry(one.id, one.digest), entry(new_message_id(), one.digest),
                       entry(two.id, "sha256:" + "x" * 43), entry(two.id, two.digest)]
            results = await store.settle_outgoing("baku", entries, b"the receipt", time.time())
            assert [r for r, _row in results] == ["settled", "unknown", "mismatch", "settled"]
            assert await store.receipt("out", one.id) == b"the receipt"
            again = await store.settle_outgoing("baku", entries, b"the receipt", time.time())
            assert [r for r, _row in again] == ["already", "unknown", "mismatch", "already"]
            assert (await store.verify_audit()).ok
        finally:
            store.close()

    run(scenario())


def test_a_store_from_before_shared_receipts_keeps_its_receipts(tmp_path) -> None:
    """Given a store made when each message kept its own receipt, opening it adds what
    shared receipts need and every old receipt can still be read."""
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (direction TEXT NOT NULL, id TEXT NOT NULL,"
                     " peer TEXT NOT NULL, type TEXT NOT NULL, correlation_id TEXT,"
                     " created REAL NOT NULL, expires REAL NOT NULL, digest TEXT NOT NULL,"
                     " jws BLOB NOT NULL, state TEXT NOT NULL, reason TEXT,"
                     " attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL, receipt BLOB,"
                     " source TEXT, updated REAL NOT NULL, PRIMARY KEY (direction, id))")
        conn.execute("INSERT INTO messages VALUES ('in', 'm1', 'aktau', 'shipment.status',"
                     " NULL, 1, 2, 'sha256:x', x'7b7d', 'handed_over', NULL, 0, NULL,"
                     " x'6f6c64', NULL, 1)")
    store = Store(path)
    try:
        assert run(store.receipt("in", "m1")) == b"old"
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert "receipt_ref" in {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
