"""Large messages cross RabbitMQ deflated, and come out byte for byte; a deflate bomb in the
inbox is refused without being inflated (hub/transports/encoding.py)."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from hub.transports.encoding import DEFLATE
from tests.amqp.conftest import Ports
from tests.amqp.test_poison import publish
from tests.amqp.traffic import RETRY
from tests.core.test_wire_encoding import _manifest
from tests.support.aio import run, wait_until
from tests.support.hubproc import store_query
from tests.support.network import Network
from tests.support.rabbit import drain

pytestmark = pytest.mark.rabbitmq


def test_a_large_manifest_crosses_deflated_and_a_bomb_is_refused(tmp_path, ports: Ports) -> None:
    """Given baku away, a 300-consignment manifest from aktau waits in baku's queue deflated
    to under a third of its signed size; a deflate bomb is put beside it. When baku comes
    back, the bomb is refused as too_large and dead-lettered, and the manifest is handed over
    intact and receipted."""
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=ports.inbox_for(),
                  extra={"retry": RETRY})
    vhost = ports.vhosts["baku"]
    bomb = zlib.compress(b"\0" * (32 << 20), 9)  # 32 MiB inflated, the limit is 1 MiB

    async def scenario() -> None:
        await net.start("baku")
        await net.stop("baku")  # its queue is declared; nobody reads it now
        await net.start("aktau")
        try:
            aktau = net.hubs["aktau"]
            body = _manifest(300)
            [message_id] = (await aktau.submit("cargo.manifest", body, to="baku")).ids
            await wait_until(lambda: aktau.metrics.value("porthub_messages_sent_total",
                                                         peer="baku") == 1, 20)
            [(properties, wire)] = await asyncio.to_thread(drain, vhost, "porthub.baku.inbox")
            [(signed,)] = store_query(net.sandbox.root / "aktau/data/hub.db",
                                      "SELECT jws FROM messages WHERE id = ?", message_id)
            assert properties.content_encoding == DEFLATE
            assert len(wire) < len(signed) / 3 and zlib.decompress(wire) == signed
            await asyncio.to_thread(publish, vhost, "baku", [bomb, wire], DEFLATE)

            await net.start("baku")
            await net.wait_settled("aktau", [message_id])
            await net.wait_delivered("baku", 1)
            assert net.delivered["baku"][0].body == body
            baku = net.hubs["baku"]
            assert baku.metrics.value("porthub_inbound_rejected_total", reason="too_large") == 1
        finally:
            await net.stop()

    run(scenario())
    dead = drain(vhost, "porthub.baku.dead")
    assert [(p.content_encoding, b) for p, b in dead] == [(DEFLATE, bomb)]
