"""End to end on the in-memory transport: submit, sign, route, deliver, receipt, exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest

from hub.envelope import Envelope, utc
from hub.errors import SubmitError
from hub.ids import new_message_id
from hub.transports import Delivery
from tests.core.bodies import MANIFEST, STATUS, status
from tests.support.aio import run
from tests.support.network import Network


def test_message_is_delivered_once_and_receipted(tmp_path) -> None:
    """Given two hubs, a manifest submitted at aktau for baku is handed over at baku once and
    aktau's store shows it delivered, with its history."""
    net = Network(tmp_path, ["aktau", "baku"])

    async def scenario() -> None:
        await net.start()
        try:
            sub = await net.hubs["aktau"].submit("cargo.manifest", MANIFEST, to="baku",
                                                 correlation_id="AKTBAK250001")
            await net.wait_settled("aktau", sub.ids)
            await net.wait_delivered("baku", 1)
            [envelope] = net.delivered["baku"]
            assert envelope.id == sub.ids[0] and envelope.sender == "aktau"
            assert envelope.body == MANIFEST and envelope.correlation_id == "AKTBAK250001"
            [out] = await net.hubs["aktau"].message(sub.ids[0])
            assert [h["state"] for h in out["history"]] == ["queued", "sent", "delivered"]
            m = net.hubs["aktau"].metrics
            assert m.value("porthub_messages_delivered_total", peer="baku") == 1
            assert m.value("porthub_messages_submitted_total", peer="baku",
                           type="cargo.manifest") == 1
        finally:
            await net.stop()

    run(scenario())


def test_broadcast_reaches_every_peer(tmp_path) -> None:
    """Given three hubs, a status sent to 'all' from baku becomes one message per peer."""
    net = Network(tmp_path, ["aktau", "baku", "samsun"])

    async def scenario() -> None:
        await net.start()
        try:
            sub = await net.hubs["baku"].submit("shipment.status", STATUS, to="all")
            assert sorted(sub.recipients) == ["aktau", "samsun"] and len(set(sub.ids)) == 2
            await net.wait_settled("baku", sub.ids)
            await net.wait_delivered("aktau", 1)
            await net.wait_delivered("samsun", 1)
        finally:
            await net.stop()

    run(scenario())


def test_routes_by_type_pattern(tmp_path) -> None:
    """Given a rule customs.* -> baku at aktau, a decision without a recipient goes to baku."""
    net = Network(tmp_path, ["aktau", "baku", "samsun"],
                  routes={"aktau": [{"type": "customs.*", "to": "baku"},
                                    {"type": "shipment.*", "to": "all"}]})

    async def scenario() -> None:
        await net.start("aktau")
        try:
            hub = net.hubs["aktau"]
            from tests.core.bodies import DECISION
            sub = await hub.submit("customs.decision", DECISION)
            assert sub.recipients == ["baku"]
            sub = await hub.submit("shipment.status", STATUS)
            assert sorted(sub.recipients) == ["baku", "samsun"]
        finally:
            await net.stop()

    run(scenario())


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "cargo.manifset", "body": MANIFEST, "to": "baku"}, "Did you mean 'cargo.manifest'"),
    ({"type": "cargo.manifest", "body": MANIFEST, "to": "bakku"}, "Did you mean 'baku'"),
    ({"type": "cargo.manifest", "body": MANIFEST, "to": "aktau"}, "this hub itself"),
    ({"type": "cargo.manifest", "body": MANIFEST}, "No route for type 'cargo.manifest'"),
    ({"type": "cargo.manifest", "body": {"vessel": 1}, "to": "baku"}, "not a valid cargo.manifest"),
    ({"type": "shipment.status", "body": {**STATUS, "container": "CSPU1234568"}, "to": "baku"},
     "iso6346"),
    ({"type": "hub.receipt", "body": {}, "to": "baku"}, "made by the hub itself"),
])
def test_submit_refuses_what_could_never_be_delivered(tmp_path, kwargs, message) -> None:
    """Given a submit with an unknown type, recipient, route or an invalid body, it fails at
    once with a clear message and nothing is queued."""
    net = Network(tmp_path, ["aktau", "baku"])

    async def scenario() -> None:
        await net.start("aktau")
        try:
            hub = net.hubs["aktau"]
            with pytest.raises(SubmitError, match=message):
                await hub.submit(**kwargs)
            assert await hub.store.count_outgoing("queued") == {}
        finally:
            await net.stop()

    run(scenario())


def test_many_concurrent_submits_are_delivered_exactly_once(tmp_path) -> None:
    """Given 500 messages submitted concurrently, all 500 are delivered exactly once. (That
    they share commits is shown deterministically in test_store.py: how many do here depends
    on how busy the machine is.)"""
    net = Network(tmp_path, ["aktau", "baku"])

    async def scenario() -> None:
        await net.start()
        try:
            import asyncio
            hub = net.hubs["aktau"]
            subs = await asyncio.gather(*(hub.submit("shipment.status", status(i), to="baku")
                                          for i in range(500)))
            ids = [i for s in subs for i in s.ids]
            await net.wait_settled("aktau", ids, timeout=60)
            await net.wait_delivered("baku", 500, timeout=30)
            assert net.duplicates("baku") == []
            assert sorted(e.id for e in net.delivered["baku"]) == sorted(ids)
        finally:
            await net.stop()

    run(scenario(), timeout=120)


def test_fast_and_detailed_schema_validators_agree() -> None:
    """The compiled validator decides; jsonschema explains. On valid and invalid bodies of
    every kind used here they must reach the same verdict."""
    from hub.schema import schemas
    from tests.core.bodies import BAYPLAN, CONSIGNMENT, DECISION

    s = schemas()
    cases = [("shipment.status", STATUS), ("cargo.manifest", MANIFEST),
             ("vessel.bayplan", BAYPLAN), ("customs.decision", DECISION),
             ("rail.consignment", CONSIGNMENT),
             ("shipment.status", {**STATUS, "container": "CSPU1234568"}),
             ("shipment.status", {**STATUS, "at": "yesterday"}),
             ("shipment.status", {**STATUS, "location": "azbak"}),
             ("cargo.manifest", {**MANIFEST, "vessel": {"imo": "9123454", "name": "X"}}),
             ("cargo.manifest", {**MANIFEST, "extra": 1}),
             ("customs.decision", {**DECISION, "decision": "maybe"})]
    for type_name, body in cases:
        fast_ok = True
        try:
            s._fast[type_name](body)
        except Exception:  # noqa: BLE001
            fast_ok = False
        slow_ok = s._validators[type_name].is_valid(body)
        assert fast_ok == slow_ok, (type_name, body)
        assert (s.errors(type_name, body) is None) == slow_ok


def test_batches_taken_in_at_once_commit_in_the_order_they_were_read(tmp_path) -> None:
    """Given two batches of the inbox handled at once, the first holding a refused delivery
    ahead of a message and the second a later message of the same correlation id, the two
    messages enter baku's store in the order the batches were read (the refusal's own store
    write must not let the second batch's commit overtake the first's)."""
    net = Network(tmp_path, ["aktau", "baku"])

    async def scenario() -> None:
        await net.start()
        try:
            aktau, baku = net.hubs["aktau"], net.hubs["baku"]
            now = utc(aktau.clock())

            def signed(n: int) -> tuple[str, bytes]:
                envelope = Envelope(id=new_message_id(), type="shipment.status", sender="aktau",
                                    to="baku", created=now, expires=now + timedelta(days=1),
                                    body=status(n), correlation_id="AKTBAK250001")
                return envelope.id, aktau._sign(envelope).jws

            async def settled() -> None:
                pass

            (first, one), (second, two) = signed(1), signed(2)
            await asyncio.gather(
                baku._on_deliveries([Delivery(b"not a message", settled, settled),
                                     Delivery(one, settled, settled)]),
                baku._on_deliveries([Delivery(two, settled, settled)]))
            with sqlite3.connect(tmp_path / "baku" / "data" / "hub.db") as conn:
                stored = [row[0] for row in conn.execute(
                    "SELECT id FROM messages WHERE direction = 'in' ORDER BY rowid")]
            assert stored == [first, second]
        finally:
            await net.stop()

    run(scenario())
