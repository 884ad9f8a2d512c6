"""End-to-end encryption over the real RabbitMQ: what the broker holds for an encrypted type
is the sealed message, with nothing of its content, and the recipient still gets it whole."""

from __future__ import annotations

import asyncio
import json

import pytest

from hub.security import jwe
from tests.amqp.conftest import Ports
from tests.core.bodies import DECISION
from tests.support.aio import run
from tests.support.network import Network
from tests.support.rabbit import drain
from tests.support.sealed import encrypt, sealed_header

pytestmark = pytest.mark.rabbitmq

CONTENT = (b"AZ-BAK-2025-000871", b"AKTBAK250001", b"CSPU1234567", b"released",
           b"State Customs Committee", b"customs.decision")


def test_the_broker_holds_the_sealed_message_and_nothing_of_its_content(tmp_path,
                                                                         ports: Ports) -> None:
    """Given aktau and baku on RabbitMQ encrypting customs.*, while baku is away a customs
    decision waits in baku's queue as a JWE: no identifier, party or type of it is readable
    there, only the routing key, message id and content type the broker needs. When baku
    returns it is delivered whole and receipted."""
    net = Network(tmp_path / "net", ["aktau", "baku"], inbox_for=ports.inbox_for())
    encrypt(net, ["customs.*"])

    async def scenario() -> None:
        await net.start()
        try:
            await net.stop("baku")
            sub = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", sub.ids, states=("sent",))
            held = await asyncio.to_thread(drain, ports.vhosts["baku"], "porthub.baku.inbox",
                                           keep=True)
            assert held
            for properties, body in held:
                assert jwe.looks_encrypted(body)
                assert not [c for c in CONTENT if c in body]
                assert list(json.loads(body)) == list(jwe.MEMBERS)
                assert list(sealed_header(body)) == list(jwe.HEADER_PARAMS)
                assert properties.message_id == sub.ids[0]
                assert properties.app_id == "aktau" and properties.headers is None
            await net.start("baku")
            await net.wait_settled("aktau", sub.ids)
            assert [e.body for e in net.delivered["baku"]] == [DECISION]
        finally:
            await net.stop()

    run(scenario(), timeout=60)
