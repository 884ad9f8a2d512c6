"""The MQTT transport against real Mosquitto brokers: the conformance suite, then the traps of
MQTT, paho 2.2 and Mosquitto 2.0 that the transport has to make harmless.

Every test starts its own ``mosquitto`` on a free loopback port (tests/support/mosquitto.py); a
missing broker binary fails these tests. Components connect through the fault proxy of
tests/support/tcpproxy.py, so ``cut()`` resets their TCP connections.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid

import paho.mqtt.client as paho
import pytest
from pydantic import ValidationError

from hub.errors import NotAcknowledged, NotConnected, TransientError
from hub.transports import mqtt
from tests.support.aio import run, wait_until
from tests.support.brokertls import broker_certificate
from tests.support.mosquitto import Mosquitto, mosquitto_factory  # noqa: F401 (fixture)
from tests.support.tcpproxy import TcpProxy
from tests.transports.conformance import *  # noqa: F401,F403
from tests.transports.conformance import (_assert_empty, _connect, _one_message_crosses,
                                          _read_n)

pytestmark = pytest.mark.mosquitto

_counter = itertools.count()


class MqttEnv:
    """A private broker, a proxy in front of it, and settings pointing through the proxy."""

    def __init__(self, broker: Mosquitto, **settings: object) -> None:
        self.broker = broker
        self.proxy = TcpProxy(broker.host, broker.port)
        self.settings = mqtt.MqttSettings(host=self.proxy.host, port=self.proxy.port,
                                          connect_timeout=5, **settings)

    def new_hub_id(self) -> str:
        return f"h{next(_counter)}x{uuid.uuid4().hex[:6]}"

    def inbox(self, hub_id: str, **changes: object) -> mqtt.MqttInbox:
        return mqtt.KIND.inbox(self.settings.model_copy(update=changes), hub_id)

    def outlet(self, peer_id: str, hub_id: str, **changes: object) -> mqtt.MqttOutlet:
        return mqtt.KIND.outlet(self.settings.model_copy(update=changes), peer_id, hub_id)

    async def connected(self, hub_id: str, **changes: object) -> tuple[mqtt.MqttInbox,
                                                                       mqtt.MqttOutlet]:
        """The inbox of ``hub_id`` and an outlet to it from a new hub, both connected."""
        inbox = self.inbox(hub_id, **changes)
        outlet = self.outlet(hub_id, self.new_hub_id(), **changes)
        await _connect(inbox)
        await _connect(outlet)
        return inbox, outlet

    def cut(self) -> None:
        self.proxy.cut()


@pytest.fixture
def transport_env(mosquitto_factory):
    env = MqttEnv(mosquitto_factory())
    yield env
    env.proxy.close()


@pytest.fixture
def env_factory(mosquitto_factory):
    """``make(broker_lines, **settings)``: an MqttEnv on a broker configured with extra lines."""
    envs: list[MqttEnv] = []

    def make(extra: tuple[str, ...] = (), persistence: bool = True, **settings) -> MqttEnv:
        envs.append(MqttEnv(mosquitto_factory(extra=extra, persistence=persistence), **settings))
        return envs[-1]

    yield make
    for env in envs:
        env.proxy.close()


async def _write_all(outlet: mqtt.MqttOutlet, bodies: list[bytes]) -> None:
    await asyncio.gather(*(outlet.write(body, f"id-{i}") for i, body in enumerate(bodies)))


async def _drain(inbox: mqtt.MqttInbox, wait: float) -> list:
    """Read and acknowledge until nothing arrives for ``wait`` seconds."""
    got = []
    while True:
        try:
            delivery = await asyncio.wait_for(inbox.read(), wait)
        except asyncio.TimeoutError:
            return got
        await delivery.ack()
        got.append(delivery)


# -- settings ---------------------------------------------------------------------------------

def test_settings_defaults_and_sentences() -> None:
    """Given minimal settings, the defaults are those of docs/mosquitto.md; invalid values are
    refused with a sentence naming the key."""
    settings = mqtt.MqttSettings(host="broker.aktau.example")
    assert (settings.port, settings.qos, settings.session_expiry) == (1883, 1, 7 * 24 * 3600)
    assert settings.max_in_flight < 20  # below Mosquitto's default Receive Maximum
    assert settings.topic_for("aktau") == "porthub/v1/aktau/inbox"
    assert mqtt.MqttSettings(host="b", tls={"ca": "ca.pem"}).port == 8883
    assert mqtt.KIND.inbox(settings, "baku").client_id == "porthub-baku-inbox"
    assert mqtt.KIND.outlet(settings, "baku", "aktau").client_id == "porthub-aktau-to-baku"
    cases = {
        "qos must be 1 or 2, got 3": {"qos": 3},
        "Extra inputs are not permitted": {"colour": "blue"},
        "without wildcards": {"topic": "porthub/+/inbox"},
        "only the placeholder {hub}": {"topic": "porthub/{port}/inbox"},
        "password needs a username": {"password": {"value": "x"}},
        "tls.cert and tls.key go together": {"tls": {"cert": "c.pem"}},
        "max_in_flight must be between 1 and 65535, got 0": {"max_in_flight": 0},
    }
    for sentence, bad in cases.items():
        with pytest.raises(ValidationError, match=sentence.replace("{", r"\{").replace("}", r"\}")):
            mqtt.MqttSettings(host="b", **bad)


def test_connect_failure_names_the_broker_and_never_the_password(caplog, tmp_path) -> None:
    """Given a password, neither describe(), nor the error of a refused connection, nor any log
    line contains it; the error names host:port."""
    secret = f"s3cret-{uuid.uuid4().hex}"
    closed_port = Mosquitto(tmp_path).port  # a free port: nothing listens there
    settings = mqtt.MqttSettings(host="127.0.0.1", port=closed_port, username="aktau",
                                 password={"value": secret}, connect_timeout=2)
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        for component in (mqtt.KIND.inbox(settings, "baku"),
                          mqtt.KIND.outlet(settings, "baku", "aktau")):
            with pytest.raises(NotConnected) as failure:
                await component.connect()
            assert f"127.0.0.1:{closed_port}" in str(failure.value)
            for text in (str(failure.value), component.describe(), repr(settings)):
                assert secret not in text
            await component.close()

    run(scenario())
    assert secret not in caplog.text


def test_refused_credentials_are_reported_without_the_password(mosquitto_factory) -> None:
    """Given a broker that allows no anonymous client and knows no password, the CONNACK
    refusal becomes NotConnected naming the broker, without the password."""
    broker = mosquitto_factory(extra=("allow_anonymous false",))
    secret = f"s3cret-{uuid.uuid4().hex}"
    settings = mqtt.MqttSettings(host=broker.host, port=broker.port, username="aktau",
                                 password={"value": secret}, connect_timeout=5)

    async def scenario() -> None:
        inbox = mqtt.KIND.inbox(settings, "baku")
        with pytest.raises(NotConnected, match="refused the connection") as failure:
            await inbox.connect()
        assert f"{broker.host}:{broker.port}" in str(failure.value)
        assert secret not in str(failure.value)
        await inbox.close()

    run(scenario())


# -- acknowledgements -------------------------------------------------------------------------

def test_acks_given_out_of_order_are_sent_in_order(transport_env) -> None:
    """Given 10 deliveries acknowledged in reverse order, nothing is acknowledged to the broker
    while the first is open (closing then brings all 10 back), and once all are acknowledged
    none comes back."""
    env = transport_env
    hub = env.new_hub_id()
    bodies = [f"ordered-{i}".encode() for i in range(10)]

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        for i, body in enumerate(bodies):
            await outlet.write(body, f"id-{i}")
        first = await _read_n(inbox, 10, ack=False)
        assert [d.body for d in first] == bodies
        for delivery in reversed(first[1:]):
            await delivery.ack()
        await inbox.close()  # the first was never acknowledged, so neither were the others

        inbox = env.inbox(hub)
        await _connect(inbox)
        again = await _read_n(inbox, 10, ack=False)
        assert [d.body for d in again] == bodies
        assert all(d.redelivered for d in again)
        for delivery in reversed(again):
            await delivery.ack()
        await inbox.close()

        inbox = env.inbox(hub)
        await _connect(inbox)
        await _assert_empty(inbox, wait=1.0)
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_ack_after_connection_loss_raises_not_connected(transport_env) -> None:
    """Given a delivery read before a cut, acknowledging it and reading raise NotConnected; a new
    connection gets the message again."""
    env = transport_env
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await outlet.write(b"before the cut", "m1")
        [delivery] = await _read_n(inbox, 1, ack=False)
        env.cut()
        with pytest.raises(NotConnected):
            await asyncio.wait_for(inbox.read(), 5)
        with pytest.raises(NotConnected):
            await delivery.ack()
        await _connect(inbox)
        [again] = await _read_n(inbox, 1)
        assert again.body == b"before the cut" and again.redelivered
        await inbox.close()
        await outlet.close()

    run(scenario())



def test_use_username_as_clientid_stops_a_peer_taking_over_the_inbox_session(
        mosquitto_factory) -> None:
    """Given the inbox of baku connected, a peer connecting with the inbox's client id takes its
    session over (the inbox is disconnected) -- unless the listener has use_username_as_clientid,
    as docs/mosquitto.md recommends, which makes the peer's client id its own user name."""
    async def taken_over(broker: Mosquitto) -> bool:
        base = mqtt.MqttSettings(host=broker.host, port=broker.port, connect_timeout=5)
        inbox = mqtt.KIND.inbox(base.model_copy(update={"username": "baku"}), "baku")
        intruder = mqtt.KIND.outlet(base.model_copy(update={
            "username": "aktau", "client_id": inbox.client_id}), "baku", "aktau")
        await _connect(inbox)
        await _connect(intruder)
        try:
            await asyncio.wait_for(inbox.read(), 0.5)
        except NotConnected:
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            await intruder.close()
            await inbox.close()
        raise AssertionError("nothing was published")

    assert run(taken_over(mosquitto_factory()))
    assert not run(taken_over(mosquitto_factory(extra=("use_username_as_clientid true",))))


# -- QoS 2 ------------------------------------------------------------------------------------

def test_qos2_delivers_every_message_once_acknowledged(env_factory) -> None:
    """Given QoS 2 on both sides, 50 pipelined writes are read once each and, acknowledged,
    never come back."""
    env = env_factory(qos=2)
    hub = env.new_hub_id()
    bodies = [f"qos2-{i}".encode() for i in range(50)]

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await _write_all(outlet, bodies)
        got = await _read_n(inbox, 50)
        assert sorted(d.body for d in got) == sorted(bodies)
        assert {d.meta["qos"] for d in got} == {2}
        await inbox.close()
        inbox = env.inbox(hub)
        await _connect(inbox)
        await _assert_empty(inbox)
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_qos2_inbox_completes_pubrels_of_an_earlier_connection(env_factory) -> None:
    """Given an inbox with a window of 4 that read 4 QoS 2 messages and lost its connection
    before acknowledging them, the broker's repeated PUBRELs are completed on reconnect, so new
    messages still flow. (At QoS 2 paho sends PUBREC before the hub sees a message, so those 4
    are not delivered again: the sender's resend, missing their receipts, recovers them.)"""
    env = env_factory(qos=2, max_in_flight=4)
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await _write_all(outlet, [f"old-{i}".encode() for i in range(4)])
        await _read_n(inbox, 4, ack=False)
        env.cut()
        with pytest.raises(NotConnected):
            await asyncio.wait_for(inbox.read(), 5)
        await _connect(inbox)
        await _connect(outlet)
        new = [f"new-{i}".encode() for i in range(10)]
        await _write_all(outlet, new)
        got = await _drain(inbox, wait=1.0)
        assert sorted(d.body for d in got) == sorted(new)
        await inbox.close()
        await outlet.close()

    run(scenario())


# -- the broker's limits ----------------------------------------------------------------------

def test_publish_window_honours_the_brokers_receive_maximum(env_factory) -> None:
    """Given a broker with max_inflight_messages 5 (advertised as Receive Maximum 5) and an
    outlet allowing 16, 100 concurrent QoS 2 writes never have more than 5 in flight and all
    100 reach the inbox."""
    env = env_factory(extra=("max_inflight_messages 5",), qos=2, max_in_flight=16)
    hub = env.new_hub_id()
    bodies = [f"window-{i}".encode() for i in range(100)]

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        assert outlet.window == 5
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, outlet.in_flight)
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        await _write_all(outlet, bodies)
        watcher.cancel()
        assert 1 <= peak <= 5
        got = await _read_n(inbox, 100)
        assert sorted(d.body for d in got) == sorted(bodies)
        await _assert_empty(inbox)
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_paho_alone_loses_qos2_messages_beyond_the_receive_maximum(mosquitto_factory) -> None:
    """The trap the window avoids: plain paho 2.2 (20 in flight, Receive Maximum ignored) against
    a broker allowing 5 reports every QoS 2 publish as done while the broker refused some with
    'quota exceeded'. If this starts failing, paho honours Receive Maximum now."""
    broker = mosquitto_factory(extra=("max_inflight_messages 5",))
    topic = f"trap/{uuid.uuid4().hex}"
    subscriber = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    received: list[bytes] = []
    published: list[int] = []
    subscriber.on_message = lambda client, userdata, message: received.append(message.payload)
    publisher.on_publish = lambda client, userdata, mid, reason, props: published.append(mid)
    subscriber.connect(broker.host, broker.port)
    subscriber.subscribe(topic, qos=2)
    publisher.connect(broker.host, broker.port)
    for _ in range(5):
        subscriber.loop(0.02)
        publisher.loop(0.02)
    for i in range(60):
        publisher.publish(topic, str(i), qos=2)
    deadline = time.monotonic() + 5
    while len(published) < 60 and time.monotonic() < deadline:
        publisher.loop(0.01)
        subscriber.loop(0.01)
    for _ in range(20):
        subscriber.loop(0.01)
    subscriber.disconnect()
    publisher.disconnect()
    assert len(published) == 60
    assert len(received) < 60


def test_publish_nobody_subscribed_is_not_acknowledged(transport_env) -> None:
    """Given no inbox session for the peer on the broker, a QoS 1 write raises NotAcknowledged
    ('no matching subscribers', PUBACK 0x10) instead of pretending the message was taken.
    (At QoS 2 Mosquitto 2.0 answers such a publish with a plain successful PUBREC.)"""
    env = transport_env

    async def scenario() -> None:
        outlet = env.outlet(env.new_hub_id(), env.new_hub_id())
        await _connect(outlet)
        with pytest.raises(NotAcknowledged, match="No matching subscribers"):
            await outlet.write(b"to nobody", "m1")
        await outlet.close()

    run(scenario())


def test_acl_lets_a_peer_write_only_to_the_inbox(mosquitto_factory, tmp_path) -> None:
    """Given the ACL of docs/mosquitto.md on baku's broker, aktau's outlet delivers to baku's
    inbox, and a write to another topic is NotAcknowledged at QoS 1 (PUBACK 0x87) and at QoS 2
    (PUBREC 0x87, which paho alone would report as success); aktau subscribed to baku's inbox
    topic gets nothing (Mosquitto grants the subscription and delivers nothing), while baku's
    own user reads every message."""
    acl = tmp_path / "acl"
    acl.write_text("user baku\ntopic read porthub/v1/baku/inbox\n\n"
                   "user aktau\ntopic write porthub/v1/baku/inbox\n", encoding="utf-8")
    broker = mosquitto_factory(extra=(f"acl_file {acl}",))
    base = mqtt.MqttSettings(host=broker.host, port=broker.port, connect_timeout=5)

    async def scenario() -> None:
        inbox = mqtt.KIND.inbox(base.model_copy(update={"username": "baku"}), "baku")
        await _connect(inbox)
        snoop = mqtt.KIND.inbox(base.model_copy(update={"username": "aktau",
                                                       "client_id": "aktau-snoop"}), "baku")
        await _connect(snoop)
        for qos in (1, 2):
            settings = base.model_copy(update={"username": "aktau", "qos": qos})
            allowed = mqtt.KIND.outlet(settings, "baku", "aktau")
            await _connect(allowed)
            await allowed.write(f"allowed at qos {qos}".encode(), "ok")
            await allowed.close()
            denied = mqtt.KIND.outlet(settings, "kuryk", "aktau")
            await _connect(denied)
            with pytest.raises(NotAcknowledged, match=r"Not authorized \(0x87\)"):
                await denied.write(b"elsewhere", "no")
            await denied.close()
        got = await _read_n(inbox, 2)
        assert sorted(d.body for d in got) == [b"allowed at qos 1", b"allowed at qos 2"]
        await _assert_empty(snoop)
        await snoop.close()
        await inbox.close()

    run(scenario())


def test_message_above_the_brokers_maximum_packet_size_is_refused_locally(env_factory) -> None:
    """Given a broker with max_packet_size 200 (advertised in CONNACK, ignored by paho 2.2, and
    a reason for the broker to drop the connection), a larger message is NotAcknowledged before
    it is sent, and the connection stays usable."""
    env = env_factory(extra=("max_packet_size 200",))
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        with pytest.raises(NotAcknowledged, match="accepts at most 200"):
            await outlet.write(b"x" * 300, "big")
        largest = max(n for n in range(200) if mqtt._publish_size(outlet.topic, b"y" * n) <= 200)
        assert mqtt._publish_size(outlet.topic, b"y" * largest) == 200  # exactly at the limit
        fits = b"y" * largest
        await outlet.write(fits, "fits")
        [delivery] = await _read_n(inbox, 1)
        assert delivery.body == fits
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_broker_silently_drops_beyond_max_queued_messages(env_factory) -> None:
    """Given a broker with max_queued_messages 10 and the inbox offline with its persistent
    session, 50 writes are all acknowledged, but only about 10 reach the inbox later. The
    transport does not notice and does not fail; the hub's receipts make it harmless."""
    env = env_factory(extra=("max_queued_messages 10",))
    hub = env.new_hub_id()
    bodies = [f"queued-{i:02d}".encode() for i in range(50)]

    async def scenario() -> None:
        inbox = env.inbox(hub)
        await _connect(inbox)
        await inbox.close()
        outlet = env.outlet(hub, env.new_hub_id())
        await _connect(outlet)
        await _write_all(outlet, bodies)  # every PUBACK says success
        await outlet.close()
        inbox = env.inbox(hub)
        await _connect(inbox)
        got = await _drain(inbox, wait=1.0)
        await inbox.close()
        assert 0 < len(got) <= 10 + 1
        assert {d.body for d in got} <= set(bodies)

    run(scenario())
    assert "Outgoing messages are being dropped" in env.broker.log()


# -- broker crash -----------------------------------------------------------------------------

def test_broker_killed_mid_stream_then_restarted(env_factory, caplog) -> None:
    """Given a stream of writes, when the broker is SIGKILLed, pending and new writes and the
    inbox's read raise NotConnected; after a restart on the same port both reconnect and every
    message written from then on arrives. Mosquitto's persistence is a snapshot (every 30 min
    by default), so the inbox's session did not survive: the inbox says so in a warning."""
    env = env_factory()
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        # Enough that some are still pending when the kill lands: 200 could all be
        # acknowledged between the 20th and the kill.
        writes = [asyncio.ensure_future(outlet.write(f"pre-{i}".encode(), f"p{i}"))
                  for i in range(5000)]
        await wait_until(lambda: sum(w.done() for w in writes) >= 20, what="20 writes")
        env.broker.kill()
        results = await asyncio.gather(*writes, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures and all(isinstance(r, NotConnected) for r in failures)
        with pytest.raises(NotConnected):
            await outlet.write(b"after the kill", "k")
        with pytest.raises(NotConnected):
            while True:  # what arrived before the kill, then the loss
                await (await asyncio.wait_for(inbox.read(), 5)).ack()

        env.broker.start()
        await _connect(inbox)
        assert not inbox.session_present
        assert "had no session for inbox" in caplog.text
        await _connect(outlet)
        after = [f"post-{i}".encode() for i in range(50)]
        await _write_all(outlet, after)
        got = {d.body for d in await _drain(inbox, wait=1.0)}
        assert set(after) <= got
        await inbox.close()
        await outlet.close()

    run(scenario())


# -- TLS --------------------------------------------------------------------------------------

def test_tls_with_consortium_client_certificates(mosquitto_factory, pki_world, tmp_path) -> None:
    """Given the TLS listener of docs/mosquitto.md (client certificates from the consortium CA
    required, checked against its CRL, CN used as user name), aktau's hub certificate (Ed25519)
    gets a message through; its revoked certificate, or none, is refused with NotConnected."""
    broker_ca, broker_cert, broker_key = broker_certificate(tmp_path)
    tls_port = Mosquitto(tmp_path).port
    broker = mosquitto_factory(extra=(
        f"listener {tls_port} 127.0.0.1", f"certfile {broker_cert}", f"keyfile {broker_key}",
        f"cafile {pki_world.ca_dir / 'ca.crt'}", f"crlfile {pki_world.crl}",
        "require_certificate true", "use_identity_as_username true"))
    cert, key = pki_world.paths("aktau")
    settings = mqtt.MqttSettings(host="127.0.0.1", port=tls_port, connect_timeout=5,
                                 tls={"ca": broker_ca, "cert": cert, "key": key})
    hub = f"tls{uuid.uuid4().hex[:6]}"

    async def refused(tls: mqtt.MqttTls) -> None:
        outlet = mqtt.KIND.outlet(settings.model_copy(update={"tls": tls}), hub, "aktau")
        with pytest.raises(NotConnected, match=f"127.0.0.1:{tls_port}"):
            # TLS 1.3 finishes the handshake before the server checks the client's
            # certificate: the refusal then surfaces at the CONNACK or the first write.
            await outlet.connect()
            await outlet.write(b"x", "x")
        await outlet.close()

    async def scenario() -> None:
        inbox = mqtt.KIND.inbox(settings, hub)
        outlet = mqtt.KIND.outlet(settings, hub, "aktau")
        assert inbox.describe().startswith(f"mqtts://127.0.0.1:{tls_port}/")
        await _one_message_crosses(inbox, outlet, b"over tls")
        revoked_cert, revoked_key = pki_world.paths("aktau-revoked")
        await refused(mqtt.MqttTls(ca=broker_ca, cert=revoked_cert, key=revoked_key))
        await refused(mqtt.MqttTls(ca=broker_ca))

    run(scenario())
    assert "u'aktau'" in broker.log()  # the certificate's CN became the user name


# -- the loop ---------------------------------------------------------------------------------

def test_no_thread_and_nodelay(transport_env) -> None:
    """Given a connected inbox and outlet, paho's own thread is not running and the sockets have
    TCP_NODELAY set."""
    import socket
    import threading

    env = transport_env

    async def scenario() -> None:
        hub = env.new_hub_id()
        inbox, outlet = await env.connected(hub)
        for component in (inbox, outlet):
            sock = component._conn.client.socket()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert not [t for t in threading.enumerate() if "paho" in t.name.lower()]
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_writes_in_flight_and_queued_fail_on_cut(transport_env) -> None:
    """Given a window of 2 and 10 writes (2 sent, 8 waiting for a slot) when the connection is
    cut, all 10 fail with NotConnected -- none is sent into the dead connection and left
    hanging -- and the outlet connects again."""
    env = transport_env
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub, max_in_flight=2)
        env.proxy.blackhole(True)
        writes = [asyncio.ensure_future(outlet.write(b"held", f"w{i}")) for i in range(10)]
        await wait_until(lambda: outlet.in_flight == 2, what="2 writes in flight")
        assert not any(w.done() for w in writes)
        env.cut()
        env.proxy.blackhole(False)
        results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 5)
        assert all(isinstance(r, NotConnected) for r in results), results
        await _connect(outlet)
        await outlet.write(b"after", "a")
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_blackholed_link_fails_writes_and_reads_within_the_keepalive_bound(transport_env) -> None:
    """Given a 1 s keep-alive, when the network silently stops carrying packets, a pending write
    and a waiting read raise NotConnected within about two keep-alives (paho pings after one and
    gives up one later), naming the keep-alive."""
    env = transport_env
    hub = env.new_hub_id()
    bound = 2 * 1 + 2 * mqtt.MISC_INTERVAL + 1

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub, keepalive=1)
        await outlet.write(b"before", "m0")
        await _read_n(inbox, 1)
        env.proxy.blackhole(True)
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(
            outlet.write(b"into the void", "m1"), inbox.read(), return_exceptions=True), bound)
        assert all(isinstance(r, NotConnected) for r in results), results
        assert all("keep-alive" in str(r) for r in results), results
        assert time.monotonic() - started < bound
        env.proxy.blackhole(False)
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_connect_through_a_blackhole_times_out(transport_env) -> None:
    """Given a link that accepts TCP but carries nothing, connect() raises NotConnected after
    connect_timeout, naming the broker and the missing CONNACK."""
    env = transport_env
    env.proxy.blackhole(True)

    async def scenario() -> None:
        inbox = env.inbox(env.new_hub_id(), connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(NotConnected, match=f"no CONNACK from MQTT broker "
                                               f"127.0.0.1:{env.proxy.port} within 1s"):
            await inbox.connect()
        assert time.monotonic() - started < 3
        await inbox.close()

    run(scenario())
