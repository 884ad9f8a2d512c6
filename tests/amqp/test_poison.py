"""Poison in a hub's RabbitMQ inbox: refused with its reason, dead-lettered, counted, and the
good messages queued behind it still arrive."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pika
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub.envelope import Envelope
from hub.ids import new_message_id
from hub.security import jws
from hub.verify import REASONS
from tests.amqp.conftest import Ports
from tests.amqp.traffic import RETRY, Stream, assert_exactly_once, submit, wait_handed_over, \
    wait_receipted
from tests.core.bodies import STATUS
from tests.support.aio import run
from tests.support.hubproc import store_query
from tests.support.network import Network
from tests.support.rabbit import PASSWORD, USER, broker_address, drain

pytestmark = pytest.mark.rabbitmq

MAX_BYTES = 8192


def poison(cert_der: bytes, sign) -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes put into baku's inbox, the reason baku must refuse them with).
    ``cert_der`` is aktau's real certificate, ``sign`` signs with aktau's real key."""
    now = datetime.now(timezone.utc)
    envelope = Envelope(id=new_message_id(), type="shipment.status", sender="aktau", to="baku",
                        created=now, expires=now + timedelta(days=1), body=STATUS,
                        correlation_id="AKTBAK250001").to_bytes()
    unsigned = json.dumps({"alg": "none", "typ": jws.TYP}).encode()
    return {
        "not JSON": (b"\x00\xffUNB+UNOA:2+AKTAU+BAKU'", "malformed"),
        "unsigned": (jws.serialize(envelope, unsigned, b""), "malformed"),
        "oversize": (sign(envelope) + b" " * MAX_BYTES, "too_large"),
        # aktau's certificate, someone else's key: the signature cannot verify
        "forged": (jws.sign(envelope, ed25519.Ed25519PrivateKey.generate(), cert_der),
                   "bad_signature"),
    }


def publish(vhost: str, hub_id: str, bodies: list[bytes], encoding: str | None = None) -> None:
    """Put raw bytes into ``hub_id``'s inbox as any writer on its broker could (blocking),
    marked with the content ``encoding`` if one is given."""
    host, port = broker_address()
    params = pika.ConnectionParameters(host, port, vhost, pika.PlainCredentials(USER, PASSWORD),
                                       connection_attempts=1, socket_timeout=5)
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for n, body in enumerate(bodies):
            channel.basic_publish(f"porthub.{hub_id}.inbox", hub_id, body, pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent, message_id=f"poison-{n}",
                content_encoding=encoding),
                mandatory=True)


def test_poison_is_refused_dead_lettered_and_counted(tmp_path, ports: Ports) -> None:
    """Given not-JSON, unsigned, oversize and forged messages at the head of baku's inbox
    queue, followed by 50 good messages from aktau, each bad one is refused with its reason
    (metric, rejections table), lands intact in porthub.baku.dead, and the 50 good ones are
    receipted and handed over exactly once."""
    net = Network(tmp_path, ["aktau", "baku"], inbox_for=ports.inbox_for(),
                  extra={"retry": RETRY, "limits": {"max_message_bytes": MAX_BYTES}})
    expected: Counter = Counter()

    async def scenario() -> list[bytes]:
        await net.start()
        try:
            aktau, baku = net.hubs["aktau"], net.hubs["baku"]
            cases = poison(aktau.identity.cert_der, aktau.identity.sign)
            expected.update(reason for _body, reason in cases.values())
            bad = [body for body, _reason in cases.values()]
            await asyncio.to_thread(publish, ports.vhosts["baku"], "baku", bad)
            stream = Stream("aktau", "baku", await submit(aktau, "baku", 50))
            await wait_receipted(net, [stream], timeout=30)
            await wait_handed_over(net, [stream], timeout=30)
            assert_exactly_once(net, [stream])
            # (a duplicate, from a resend that crossed its receipt, is not poison)
            refused = {r: baku.metrics.value("porthub_inbound_rejected_total", reason=r)
                       for r in REASONS if r != "duplicate"}
            assert Counter({r: int(n) for r, n in refused.items() if n}) == expected
            return bad
        finally:
            await net.stop()

    bad = run(scenario())
    rejections = store_query(net.sandbox.root / "baku/data/hub.db",
                             "SELECT reason FROM rejections")
    assert Counter(reason for (reason,) in rejections) == expected
    dead = drain(ports.vhosts["baku"], "porthub.baku.dead")
    assert sorted(body for _props, body in dead) == sorted(bad)
    assert {props.headers["x-death"][0]["reason"] for props, _body in dead} == {"rejected"}
