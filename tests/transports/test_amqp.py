"""The AMQP transport against the real RabbitMQ: the conformance suite, then what only AMQP has.

Every connection goes through a fault-injecting TCP proxy, so ``cut()`` is a network reset, not
a polite close. All tests share one vhost of this test run and use hub ids of their own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pika
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from hub.errors import ConfigError, NotAcknowledged, NotConnected
from hub.transports import amqp, load
from tests.support.aio import run, wait_until
from tests.support.rabbit import (PASSWORD, USER, broker_address, close_all_connections, drain,
                                  rabbit_vhost, rabbitmqctl, temporary_user)
from tests.support.tcpproxy import TcpProxy
from tests.transports import conformance
from tests.transports.conformance import *  # noqa: F401,F403
from tests.transports.conformance import _connect, _read_n

pytestmark = pytest.mark.rabbitmq
__all__ = ["rabbit_vhost"]  # the fixture, imported so that pytest finds it here

_counter = itertools.count()
SECRET = "s3cret-Pw-9x"  # a password for the tests that check it never shows


class AmqpEnv:
    """The conformance suite's view of RabbitMQ: everything through one proxy, in one vhost."""

    def __init__(self, vhost: str, proxy: TcpProxy, **overrides: object) -> None:
        self.vhost = vhost
        self.proxy = proxy
        self.settings = self.settings_for(**overrides)

    def settings_for(self, **overrides: object) -> amqp.AmqpSettings:
        fields = {"url": f"amqp://{USER}@{self.proxy.host}:{self.proxy.port}/",
                  "password": {"value": PASSWORD}, "vhost": self.vhost, "heartbeat": 5,
                  "connect_timeout": 3.0, **overrides}
        return amqp.AmqpSettings(**fields)

    def new_hub_id(self) -> str:
        return f"h{next(_counter)}x{uuid.uuid4().hex[:6]}"

    def inbox(self, hub_id: str) -> amqp.AmqpInbox:
        return amqp.KIND.inbox(self.settings, hub_id)

    def outlet(self, peer_id: str, hub_id: str) -> amqp.AmqpOutlet:
        return amqp.KIND.outlet(self.settings, peer_id, hub_id)

    def cut(self) -> None:
        self.proxy.cut()

    async def connected(self, hub_id: str) -> tuple[amqp.AmqpInbox, amqp.AmqpOutlet]:
        """The inbox of ``hub_id`` and an outlet to it from hub "sender", both connected."""
        inbox, outlet = self.inbox(hub_id), self.outlet(hub_id, "sender")
        await _connect(inbox)
        await _connect(outlet)
        return inbox, outlet


@pytest.fixture
def proxy() -> TcpProxy:
    with TcpProxy(*broker_address()) as running:
        yield running


@pytest.fixture
def transport_env(rabbit_vhost: str, proxy: TcpProxy) -> AmqpEnv:
    return AmqpEnv(rabbit_vhost, proxy)


# -- publishing ------------------------------------------------------------------------------------

def test_publish_to_missing_exchange_is_not_acknowledged(transport_env: AmqpEnv) -> None:
    """Given no inbox exchange for the peer, a write raises NotAcknowledged (the broker closed the
    channel with 404), and the next write reports the outlet as not connected."""
    peer = transport_env.new_hub_id()  # nobody declared porthub.<peer>.inbox

    async def scenario() -> None:
        outlet = transport_env.outlet(peer, "sender")
        await _connect(outlet)
        with pytest.raises(NotAcknowledged, match="404"):
            await outlet.write(b"to nowhere", "m-1")
        with pytest.raises(NotConnected):
            await outlet.write(b"again", "m-2")
        await outlet.close()

    run(scenario())


def test_unroutable_publish_is_not_acknowledged(transport_env: AmqpEnv) -> None:
    """Given the peer's exchange exists but no queue is bound for the routing key, the broker
    returns the mandatory message (basic.return before basic.ack) and that write raises
    NotAcknowledged while routable writes around it succeed on the same channel."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        await _connect(inbox)  # declares porthub.<hub>.inbox bound with routing key <hub>
        await inbox.close()
        good = transport_env.outlet(hub, "sender")
        stray = amqp.AmqpOutlet(transport_env.settings_for(exchange=f"porthub.{hub}.inbox"),
                                "nobody-bound", "sender")
        await _connect(good)
        await _connect(stray)
        await good.write(b"routable", "m-1")
        results = await asyncio.gather(stray.write(b"unroutable", "m-2"), good.write(b"ok", "m-3"),
                                       return_exceptions=True)
        assert isinstance(results[0], NotAcknowledged) and "unroutable" in str(results[0])
        assert results[1] is None
        await good.write(b"still fine", "m-5")
        await good.close()
        await stray.close()

    run(scenario())


def test_messages_are_persistent_with_id_and_content_type(transport_env: AmqpEnv) -> None:
    """Given one write, the queued message is persistent and carries its message id, the JWS
    content type and the sender's hub id."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        await _connect(inbox)
        await inbox.close()
        outlet = transport_env.outlet(hub, "aktau")
        await _connect(outlet)
        await outlet.write(b"{}", "id-42")
        await outlet.close()

    run(scenario())
    [(properties, body)] = drain(transport_env.vhost, f"porthub.{hub}.inbox")
    assert body == b"{}"
    assert properties.delivery_mode == 2
    assert properties.message_id == "id-42"
    assert properties.content_type == "application/jose+json"
    assert properties.app_id == "aktau"


# -- faults ----------------------------------------------------------------------------------------

class BrokerClosesEnv(AmqpEnv):
    """cut() has the broker close every connection of the vhost (rabbitmqctl
    close_all_connections). rabbitmqctl takes about a second and blocks the loop meanwhile, as a
    busy hub would; heartbeats ride it out."""

    inboxes_made = 0

    def inbox(self, hub_id: str) -> amqp.AmqpInbox:
        self.inboxes_made += 1
        return super().inbox(hub_id)

    def cut(self) -> None:
        close_all_connections(self.vhost)


def test_broker_closing_all_connections_mid_stream_loses_nothing(rabbit_vhost: str,
                                                                 proxy: TcpProxy) -> None:
    """The conformance suite's mid-stream test with the broker, not the network, closing every
    connection after 100 reads: nothing is lost, and the reader did have to reconnect."""
    env = BrokerClosesEnv(rabbit_vhost, proxy)
    conformance.test_connection_lost_mid_stream_loses_nothing(env)
    assert env.inboxes_made >= 2, "the inbox never noticed the broker closing its connection"


def test_blackholed_link_fails_writes_instead_of_hanging(rabbit_vhost: str,
                                                         proxy: TcpProxy) -> None:
    """Given a 1 s heartbeat, when the network silently stops carrying packets mid-stream, a
    pending write and a waiting read both raise NotConnected within the heartbeat bound
    (pika checks every heartbeat + 5 s, so at most about 2 x 6 s), and nothing hangs."""
    env = AmqpEnv(rabbit_vhost, proxy, heartbeat=1)
    hub = env.new_hub_id()
    bound = 2 * (1 + 5) + 3

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await outlet.write(b"before", "m-0")
        await _read_n(inbox, 1)
        proxy.blackhole(True)
        started = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(outlet.write(b"into the void", "m-1"), inbox.read(),
                           return_exceptions=True), bound)
        elapsed = time.monotonic() - started
        assert all(isinstance(r, NotConnected) for r in results), results
        assert "heartbeat" in str(results[0])
        assert elapsed < bound
        proxy.blackhole(False)
        await asyncio.wait_for(asyncio.gather(outlet.close(), inbox.close()),
                               2 * amqp.CLOSE_TIMEOUT)

    run(scenario(), timeout=bound + 15)


def test_connect_through_blackhole_times_out(rabbit_vhost: str, proxy: TcpProxy) -> None:
    """Given a link that accepts TCP but carries nothing, connect() raises NotConnected after
    connect_timeout, naming the broker and what it was waiting for."""
    env = AmqpEnv(rabbit_vhost, proxy, connect_timeout=1.0)
    proxy.blackhole(True)

    async def scenario() -> None:
        inbox = env.inbox(env.new_hub_id())
        started = time.monotonic()
        with pytest.raises(NotConnected, match=f"127.0.0.1:{proxy.port}") as caught:
            await inbox.connect()
        assert time.monotonic() - started < 3
        assert "no answer within 1 s" in str(caught.value)
        await inbox.close()

    run(scenario())


def test_refused_connection_is_not_connected(rabbit_vhost: str, proxy: TcpProxy) -> None:
    """Given the broker port resets new connections, connect() raises NotConnected quickly."""
    env = AmqpEnv(rabbit_vhost, proxy)
    proxy.reset_new(True)

    async def scenario() -> None:
        outlet = env.outlet("somebody", "sender")
        with pytest.raises(NotConnected, match=f"127.0.0.1:{proxy.port}"):
            await asyncio.wait_for(outlet.connect(), 5)
        await outlet.close()

    run(scenario())


def test_ack_after_connection_lost_raises_not_connected(transport_env: AmqpEnv) -> None:
    """Given a delivery read but not settled, when the connection is cut, ack() and reject()
    raise NotConnected, and the message comes again (flagged redelivered) on a new connection."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await transport_env.connected(hub)
        await outlet.write(b"once", "m-1")
        [delivery] = await _read_n(inbox, 1, ack=False)
        assert not delivery.redelivered
        transport_env.cut()
        await wait_until(lambda: not inbox._link.up, what="the inbox to notice the cut")
        with pytest.raises(NotConnected):
            await delivery.ack()
        with pytest.raises(NotConnected):
            await delivery.reject()
        with pytest.raises(NotConnected):
            await inbox.read()
        await inbox.close()
        inbox = transport_env.inbox(hub)
        await _connect(inbox)
        [again] = await _read_n(inbox, 1)
        assert again.body == b"once" and again.redelivered
        await inbox.close()
        await outlet.close()

    run(scenario())


# -- inbox layout ----------------------------------------------------------------------------------

def test_rejected_message_is_dead_lettered(transport_env: AmqpEnv) -> None:
    """Given a poison message, rejecting it puts it, intact, into porthub.<hub>.dead."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await transport_env.connected(hub)
        await outlet.write(b"\x00not a jws", "poison-1")
        [delivery] = await _read_n(inbox, 1, ack=False)
        await delivery.reject()
        await inbox.close()
        await outlet.close()

    run(scenario())
    [(properties, body)] = drain(transport_env.vhost, f"porthub.{hub}.dead")
    assert body == b"\x00not a jws"
    assert properties.message_id == "poison-1"
    assert properties.headers["x-death"][0]["reason"] == "rejected"


def test_quorum_inbox_round_trip(rabbit_vhost: str, proxy: TcpProxy) -> None:
    """Given queue_type quorum, the inbox and dead-letter queues are quorum queues, and a
    message written, rejected and then one acknowledged flow as with a classic queue."""
    env = AmqpEnv(rabbit_vhost, proxy, queue_type="quorum")
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await outlet.write(b"bad", "q-1")
        await outlet.write(b"good", "q-2")
        first, second = await _read_n(inbox, 2, ack=False)
        await first.reject()
        await second.ack()
        await inbox.close()
        await outlet.close()

    run(scenario())
    assert [body for _, body in drain(env.vhost, f"porthub.{hub}.dead")] == [b"bad"]
    assert drain(env.vhost, f"porthub.{hub}.inbox") == []
    listing = _queue_types(env.vhost)
    assert listing[f"porthub.{hub}.inbox"] == "quorum"
    assert listing[f"porthub.{hub}.dead"] == "quorum"


def _queue_types(vhost: str) -> dict[str, str]:
    out = rabbitmqctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "type")
    return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)


def test_prefetch_bounds_unacknowledged_deliveries(rabbit_vhost: str, proxy: TcpProxy) -> None:
    """Given prefetch 5 and 20 queued messages, the broker hands over only 5 until some are
    acknowledged."""
    env = AmqpEnv(rabbit_vhost, proxy, prefetch=5)
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        await asyncio.gather(*(outlet.write(b"x%d" % i, f"p-{i}") for i in range(20)))
        await asyncio.sleep(0.5)
        assert inbox._deliveries.qsize() == 5
        await _read_n(inbox, 20)
        await inbox.close()
        await outlet.close()

    run(scenario())


def test_inbox_without_declare_needs_the_queue_to_exist(rabbit_vhost: str,
                                                        proxy: TcpProxy) -> None:
    """Given declare false (the operator declares the layout), connecting to a queue nobody
    declared raises NotConnected naming the missing queue; once declared, it connects."""
    hub = AmqpEnv(rabbit_vhost, proxy).new_hub_id()

    async def scenario() -> None:
        bare = AmqpEnv(rabbit_vhost, proxy, declare=False).inbox(hub)
        with pytest.raises(NotConnected, match="404 NOT_FOUND - no queue"):
            await bare.connect()
        await bare.close()
        declaring = AmqpEnv(rabbit_vhost, proxy).inbox(hub)
        await _connect(declaring)
        await declaring.close()
        await _connect(bare)
        await bare.close()

    run(scenario())


def test_documented_permissions_are_enough_and_no_more(rabbit_vhost: str,
                                                       proxy: TcpProxy) -> None:
    """Given the users of docs/rabbitmq.md -- the hub's own user limited to its three names, a
    peer's user allowed to write only to the inbox exchange -- the hub declares and consumes, the
    peer delivers; the peer can neither write to the dead-letter exchange nor read the inbox."""
    env = AmqpEnv(rabbit_vhost, proxy)
    hub = env.new_hub_id()
    own = rf"^porthub\.{hub}\.(inbox|dlx|dead)$"
    with temporary_user(rabbit_vhost, own, own, own) as (hub_user, hub_password), \
            temporary_user(rabbit_vhost, "^$", rf"^porthub\.{hub}\.inbox$", "^$") as (
                peer_user, peer_password):
        def as_user(user: str, password: str, **fields: object) -> amqp.AmqpSettings:
            return env.settings_for(url=f"amqp://{user}@{proxy.host}:{proxy.port}/",
                                    password={"value": password}, **fields)

        async def scenario() -> None:
            inbox = amqp.KIND.inbox(as_user(hub_user, hub_password), hub)
            outlet = amqp.KIND.outlet(as_user(peer_user, peer_password), hub, "peer")
            await _connect(inbox)
            await _connect(outlet)
            await outlet.write(b"allowed", "perm-1")
            [delivery] = await _read_n(inbox, 1, ack=False)
            await delivery.reject()
            await inbox.close()

            to_dlx = amqp.KIND.outlet(as_user(peer_user, peer_password,
                                              exchange=f"porthub.{hub}.dlx"), hub, "peer")
            await _connect(to_dlx)
            with pytest.raises(NotAcknowledged, match="403 ACCESS_REFUSED"):
                await to_dlx.write(b"sneaky", "perm-2")
            await to_dlx.close()
            reader = amqp.KIND.inbox(as_user(peer_user, peer_password), hub)
            with pytest.raises(NotConnected, match="403 ACCESS_REFUSED"):
                await reader.connect()
            await reader.close()
            await outlet.close()

        run(scenario())


# -- connection.blocked ----------------------------------------------------------------------------
# A real memory alarm (rabbitmqctl set_vm_memory_high_watermark) would block every publisher on
# the shared test broker, so these tests hand pika the broker's Connection.Blocked frame through
# the connection's callback registry, where pika's frame dispatcher would put it.

def _broker_says(outlet: amqp.AmqpOutlet, method: object) -> None:
    connection = outlet._link.connection
    connection.callbacks.process(0, type(method), connection, pika.frame.Method(0, method))


def test_blocked_longer_than_blocked_timeout_fails_writes(rabbit_vhost: str,
                                                          proxy: TcpProxy) -> None:
    """Given blocked_timeout 0.5 s and a write whose confirm cannot arrive, when the broker
    blocks the connection, the write raises NotConnected naming the alarm after ~0.5 s (not
    after the 30 s heartbeat) and the outlet reports itself down."""
    env = AmqpEnv(rabbit_vhost, proxy, heartbeat=30, blocked_timeout=0.5)
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        proxy.blackhole(True)  # what a blocked broker does: it stops reading our socket
        write = asyncio.ensure_future(outlet.write(b"stuck", "b-1"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        _broker_says(outlet, pika.spec.Connection.Blocked(reason="low on memory"))
        with pytest.raises(NotConnected, match="blocked publishing \\(low on memory\\)"):
            await asyncio.wait_for(write, 5)
        assert 0.4 < time.monotonic() - started < 2
        with pytest.raises(NotConnected):
            await outlet.write(b"after", "b-2")
        proxy.blackhole(False)
        await outlet.close()
        await inbox.close()

    run(scenario())


def test_unblocked_in_time_keeps_the_connection(rabbit_vhost: str, proxy: TcpProxy) -> None:
    """Given blocked_timeout 0.5 s, when the broker blocks and unblocks the connection within
    it, the connection survives past the timeout and writes succeed."""
    env = AmqpEnv(rabbit_vhost, proxy, blocked_timeout=0.5)
    hub = env.new_hub_id()

    async def scenario() -> None:
        inbox, outlet = await env.connected(hub)
        _broker_says(outlet, pika.spec.Connection.Blocked(reason="low on disk"))
        await asyncio.sleep(0.2)
        _broker_says(outlet, pika.spec.Connection.Unblocked())
        await asyncio.sleep(0.6)
        await outlet.write(b"fine", "u-1")
        assert (await _read_n(inbox, 1))[0].body == b"fine"
        await outlet.close()
        await inbox.close()

    run(scenario())


# -- credentials -----------------------------------------------------------------------------------

def test_password_never_in_describe_or_errors(rabbit_vhost: str, proxy: TcpProxy,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Given a wrong password written into the url, the settings' repr, describe(), the connect
    error and the log never contain it, while the error names host:port/vhost."""
    caplog.set_level(logging.DEBUG)
    url = f"amqp://{USER}:{SECRET}@{proxy.host}:{proxy.port}/"
    settings = amqp.AmqpSettings(url=url, vhost=rabbit_vhost, connect_timeout=3.0)
    inbox = amqp.KIND.inbox(settings, "nobody")
    outlet = amqp.KIND.outlet(settings, "nobody", "me")

    async def scenario() -> list[str]:
        texts = [repr(settings), str(settings.model_dump()), inbox.describe(), outlet.describe()]
        for component in (inbox, outlet):
            with pytest.raises(NotConnected) as caught:
                await component.connect()
            texts.append(str(caught.value))
            assert f"{proxy.host}:{proxy.port}/{rabbit_vhost}" in str(caught.value)
            assert "login refused" in str(caught.value)
            await component.close()
        return texts

    texts = run(scenario())
    texts.append(caplog.text)
    assert all(SECRET not in text for text in texts), [t for t in texts if SECRET in t]


def test_settings_errors_do_not_echo_the_url() -> None:
    """Given an invalid url holding a password, the validation error names the problem but not
    the password."""
    with pytest.raises(ValidationError) as caught:
        amqp.AmqpSettings(url=f"http://{USER}:{SECRET}@broker/", password=None)
    assert "amqp:// or amqps://" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- settings --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "message"), [
    ({"url": "amqp://u@h/", "prefetch": 0}, "prefetch must be between 1 and 65535, got 0"),
    ({"url": "amqp://u@h/", "heartbeat": 0}, "heartbeat must be between 1 and 3600"),
    ({"url": "amqp://u@h/", "blocked_timeout": 0}, "blocked_timeout must be more than 0"),
    ({"url": "amqp://u@h/", "queue_type": "stream"}, "queue_type"),
    ({"url": "amqp://u@h/", "qos": 1}, "qos"),
    ({"url": "amqp://u@h/", "exchange": "amq.direct"}, "reserved by RabbitMQ"),
    ({"url": "amqp://u@h/?heartbeat=5"}, "must not carry ?options"),
    ({"url": "amqp://u@h/a/b"}, "one segment"),
    ({"url": "amqp://u@h/one", "vhost": "two"}, "differs from the url's vhost"),
    ({"url": "amqp://h/"}, "username is missing"),
    ({"url": "amqp://u:p@h/", "password": {"env": "X"}}, "keep only one"),
    ({"url": "amqp://u@h/", "tls": {"ca": "/ca.pem"}}, "tls options need an amqps:// url"),
    ({"url": "amqps://u@h/", "tls": {"cert": "/c.pem"}}, "tls.cert and tls.key go together"),
])
def test_invalid_settings_are_explained(fields: dict, message: str) -> None:
    fields.setdefault("password", {"value": "pw"})
    if fields["password"] is None:
        del fields["password"]
    with pytest.raises(ValidationError) as caught:
        amqp.AmqpSettings(**fields)
    assert message in str(caught.value)


def test_settings_defaults_and_url_parts() -> None:
    """Given a url with a password and a %2F-quoted vhost, the password moves out of the url and
    the parts are read as RabbitMQ means them; the kind is found by name."""
    settings = load("amqp").settings(url="amqps://baku:pw@broker.example/porthub%2Fbaku")
    assert settings.url == "amqps://baku@broker.example/porthub%2Fbaku"
    assert settings.password.resolve().get_secret_value() == "pw"
    assert (settings.host, settings.port, settings.virtual_host, settings.user) == (
        "broker.example", 5671, "porthub/baku", "baku")
    assert settings.where() == "amqps://baku@broker.example:5671/porthub%2Fbaku"
    assert (settings.prefetch, settings.heartbeat, settings.blocked_timeout) == (64, 30, 60)
    assert amqp.KIND.inbox(settings, "baku").queue == "porthub.baku.inbox"
    assert amqp.KIND.outlet(settings, "aktau", "baku").exchange == "porthub.aktau.inbox"


# -- TLS -------------------------------------------------------------------------------------------

def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "baku")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_context_is_built_from_the_options(tmp_path: Path) -> None:
    """Given an amqps url with CA, client certificate and key, the context verifies the broker
    against that CA, presents the certificate, and pika gets it with the broker's host name."""
    cert, key = _self_signed(tmp_path)
    settings = amqp.AmqpSettings(url="amqps://baku@broker.example:5671/porthub",
                                 password={"value": "pw"},
                                 tls={"ca": cert, "cert": cert, "key": key})
    context = amqp.ssl_context(settings)
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "baku"),),)]
    params = amqp.connection_parameters(settings, "test")
    assert params.ssl_options.context is not None
    assert params.ssl_options.server_hostname == "broker.example"
    assert params.port == 5671

    unverified = settings.model_copy(update={"tls": amqp.AmqpTls(ca=cert, verify_hostname=False)})
    assert not amqp.ssl_context(unverified).check_hostname


def test_tls_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """Given a CA path that does not exist, building the context raises ConfigError naming the
    broker, not a raw OSError."""
    settings = amqp.AmqpSettings(url="amqps://baku@broker.example/", password={"value": "pw"},
                                 tls={"ca": tmp_path / "missing.pem"})
    with pytest.raises(ConfigError, match="amqps://baku@broker.example:5671/"):
        amqp.ssl_context(settings)
