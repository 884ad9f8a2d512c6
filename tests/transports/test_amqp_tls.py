"""The AMQP transport over TLS against a private RabbitMQ node (tests/support/rabbitnode.py)
with the TLS listener of docs/rabbitmq.md: client certificates from the consortium CA required,
login by password or by the certificate (EXTERNAL).

One node serves the whole session. Each test uses hub ids or a vhost of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Iterator

import pika
import pika.exceptions
import pytest
import yaml

from hub.backoff import Backoff
from hub.errors import NotAcknowledged, NotConnected
from hub.intake import Intake
from hub.transports import amqp
from tests.core.bodies import status
from tests.security_fixtures import PKIWorld
from tests.support.aio import run, wait_until
from tests.support.network import Network
from tests.support.rabbitnode import PASSWORD, USER, RabbitNode
from tests.transports.conformance import _connect, _one_message_crosses

pytestmark = pytest.mark.rabbitmq


def tls_fields(node: RabbitNode, pki_world: PKIWorld, client: str | None,
               **fields: object) -> dict[str, object]:
    """Settings for amqps to the node's TLS port, trusting its CA, presenting the certificate
    of ``client`` (a name in ``pki_world``, or None for no certificate); as guest unless
    ``fields`` say otherwise."""
    assert node.tls is not None
    tls = {"ca": str(node.tls.broker_ca)}
    if client is not None:
        tls["cert"], tls["key"] = map(str, pki_world.paths(client))
    base: dict[str, object] = {"url": f"amqps://{USER}@{node.host}:{node.tls_port}/",
                               "password": {"value": PASSWORD}}
    if fields.get("login") == "certificate":
        base = {"url": f"amqps://{node.host}:{node.tls_port}/"}
    return {"kind": "amqp", **base, "tls": tls, "connect_timeout": 5.0, **fields}


def tls_settings(node: RabbitNode, pki_world: PKIWorld, client: str | None,
                 **fields: object) -> amqp.AmqpSettings:
    return amqp.AmqpSettings(**tls_fields(node, pki_world, client, **fields))


def test_message_crosses_over_mutual_tls(rabbit_node: RabbitNode, pki_world: PKIWorld) -> None:
    """Given the TLS listener requiring a consortium client certificate, baku's inbox (baku's
    certificate) and aktau's outlet (aktau's Ed25519 certificate) connect over amqps and a
    message written by the outlet is read by the inbox."""
    hub = f"tls{uuid.uuid4().hex[:6]}"

    inbox = amqp.KIND.inbox(tls_settings(rabbit_node, pki_world, "baku"), hub)
    outlet = amqp.KIND.outlet(tls_settings(rabbit_node, pki_world, "aktau"), hub, "aktau")
    assert outlet.describe().startswith(f"amqps://guest@127.0.0.1:{rabbit_node.tls_port}/")
    run(_one_message_crosses(inbox, outlet, b"over tls"))


# A refusal is read as the broker's alert, unless our next write met the closed socket first;
# then all the hub can say is that the broker closed the connection. The broker logs its alert
# either way.
CLOSED_EARLY = ("the broker closed the TLS connection during the handshake without saying why "
                "here: did it refuse the client certificate ({cert})? Its log says")
ALERT_ATTEMPTS = 5


@pytest.mark.parametrize(("client", "says", "broker_log"), [
    (None, "it requires a client certificate and none was given: set tls.cert and tls.key",
     "Certificate required"),
    ("aktau-expired", "has expired (or is not yet valid): install the renewed one",
     "Certificate Expired"),
    ("aktau-other-ca", "is not from a CA the broker trusts", "Unknown CA"),
])
def test_refused_client_certificate_is_explained(rabbit_node: RabbitNode, pki_world: PKIWorld,
                                                 client: str | None, says: str,
                                                 broker_log: str) -> None:
    """Given no client certificate, an expired one, or one from another CA with the consortium
    CA's name, connect() raises NotConnected naming the broker, what it refused and the
    certificate file; the broker's log names the same reason."""
    settings = tls_settings(rabbit_node, pki_world, client)
    prefix = (f"amqp amqps://guest@127.0.0.1:{rabbit_node.tls_port}/%2F exchange "
              "porthub.baku.inbox: ")
    cert = str(pki_world.paths(client)[0]) if client is not None else "none given"

    async def scenario() -> list[str]:
        errors: list[str] = []
        for _ in range(ALERT_ATTEMPTS):  # until the broker's alert is read (see CLOSED_EARLY)
            outlet = amqp.KIND.outlet(settings, "baku", "aktau")
            with pytest.raises(NotConnected) as caught:
                await outlet.connect()
            await outlet.close()
            errors.append(str(caught.value))
            if says in errors[-1]:
                break
        return errors

    errors = run(scenario())
    assert errors[-1].startswith(prefix + "the broker refused the TLS connection: "), errors
    assert says in errors[-1], errors
    assert all(e == prefix + CLOSED_EARLY.format(cert=cert) for e in errors[:-1]), errors
    if client is not None:
        assert cert in errors[-1]
    rabbit_node.wait_for_log(f"SERVER ALERT: Fatal - {broker_log}")


def test_untrusted_broker_and_plain_port_are_explained(rabbit_node: RabbitNode,
                                                       pki_world: PKIWorld) -> None:
    """Given the consortium CA as tls.ca (it did not sign the broker's certificate), or the
    node's plain AMQP port behind an amqps url, connect() says which, not just 'SSL error'."""
    cert, key = pki_world.paths("aktau")
    untrusted = tls_settings(rabbit_node, pki_world, "aktau",
                             tls={"ca": pki_world.ca_dir / "ca.crt", "cert": cert, "key": key})
    plain = tls_settings(rabbit_node, pki_world, "aktau",
                         url=f"amqps://{USER}@{rabbit_node.host}:{rabbit_node.amqp_port}/")

    async def scenario() -> list[str]:
        errors = []
        for settings in (untrusted, plain):
            outlet = amqp.KIND.outlet(settings, "baku", "aktau")
            with pytest.raises(NotConnected) as caught:
                await outlet.connect()
            await outlet.close()
            errors.append(str(caught.value))
        return errors

    untrusted_error, plain_error = run(scenario())
    assert "the broker's certificate is not trusted (unable to get local issuer certificate)" \
        in untrusted_error
    assert "no TLS answer on this port" in plain_error


def test_inbox_refused_at_start_is_logged_once(rabbit_node: RabbitNode, pki_world: PKIWorld,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Given the hub's inbox without a client certificate, the intake that keeps it connected
    logs why it cannot connect once per reason, not at every attempt, while it keeps
    retrying."""
    caplog.set_level(logging.WARNING, logger="hub")
    inbox = amqp.KIND.inbox(tls_settings(rabbit_node, pki_world, None), "baku")
    attempts = 0
    connect = inbox.connect

    async def counted_connect() -> None:
        nonlocal attempts
        attempts += 1
        await connect()

    inbox.connect = counted_connect  # type: ignore[method-assign]
    intake = Intake(inbox, lambda deliveries: asyncio.sleep(0), Backoff(0.1, 0.1),
                    lambda connected, error: None)

    async def scenario() -> None:
        task = asyncio.create_task(intake.run())
        await wait_until(lambda: attempts >= 4, 10, what="four attempts to connect")
        # Python 3.11's wait_for can swallow a cancellation that meets the end of the wait it
        # guards (pika's handshake ends in a refusal at any moment here): cancel until done.
        for _ in range(50):
            task.cancel()
            if (await asyncio.wait({task}, timeout=0.1))[0]:
                break
        assert task.done(), "the intake did not stop"
        await inbox.close()

    run(scenario())
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("inbox ")]
    assert all(line.startswith("inbox cannot connect: amqp amqps://") for line in logged), logged
    assert len(logged) < attempts
    assert_said_once_per_reason(logged, "it requires a client certificate and none was given")


# -- login by certificate (EXTERNAL) ----------------------------------------------------------

@pytest.fixture(scope="module")
def external_vhost(rabbit_node: RabbitNode, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[str]:
    """A vhost on the node with the users of docs/rabbitmq.md for login by certificate:
    ``baku`` (the hub: its three names) and ``aktau`` (a peer: write to the inbox exchange
    only), both without a password, so that they can log in by certificate only."""
    vhost = f"porthub-{uuid.uuid4().hex[:6]}"
    own = r"^porthub\.baku\.(inbox|dlx|dead)$"
    permissions = {"baku": (own, own, own), "aktau": ("^$", r"^porthub\.baku\.inbox$", "^$")}
    # One import instead of seven rabbitmqctl calls of about a second each.
    definitions = {
        "users": [{"name": user, "password_hash": "", "tags": []} for user in permissions],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": user, "vhost": vhost, "configure": c, "write": w, "read": r}
                        for user, (c, w, r) in permissions.items()],
    }
    path = tmp_path_factory.mktemp("definitions") / "definitions.json"
    path.write_text(json.dumps(definitions), encoding="utf-8")
    rabbit_node.rabbitmqctl("import_definitions", str(path))
    try:
        yield vhost
    finally:
        # The users stay, with no permission left anywhere; the node ends with the session.
        rabbit_node.rabbitmqctl("delete_vhost", vhost)


def test_login_by_certificate_with_least_privilege(rabbit_node: RabbitNode, pki_world: PKIWorld,
                                                   external_vhost: str) -> None:
    """Given login: certificate, baku's inbox logs in as 'baku' and aktau's outlet as 'aktau'
    with no password (the broker takes the user from the certificate's CN); aktau delivers, but
    cannot write to baku's dead-letter exchange or the default exchange, gets a message with
    another routing key returned, cannot read baku's inbox or dead-letter queue nor declare a
    queue of its own, and no password logs in
    as aktau; kuryk's valid certificate, with no user on the broker, is refused with a sentence
    saying so, as is certificate login where the broker does not offer EXTERNAL."""

    def settings(client: str, **fields: object) -> amqp.AmqpSettings:
        return tls_settings(rabbit_node, pki_world, client, login="certificate",
                            vhost=external_vhost, **fields)

    async def scenario() -> None:
        inbox = amqp.KIND.inbox(settings("baku"), "baku")
        outlet = amqp.KIND.outlet(settings("aktau"), "baku", "aktau")
        assert outlet.describe() == (f"amqps://127.0.0.1:{rabbit_node.tls_port}/"
                                     f"{external_vhost} exchange porthub.baku.inbox")
        await _one_message_crosses(inbox, outlet, b"by certificate")

        to_dlx = amqp.KIND.outlet(settings("aktau", exchange="porthub.baku.dlx"), "baku",
                                  "aktau")
        await _connect(to_dlx)
        with pytest.raises(NotAcknowledged, match="403 ACCESS_REFUSED"):
            await to_dlx.write(b"sneaky", "ext-2")
        await to_dlx.close()
        other_key = amqp.KIND.outlet(settings("aktau", exchange="porthub.baku.inbox"), "kuryk",
                                     "aktau")  # routing key kuryk: no queue bound for it
        await _connect(other_key)
        with pytest.raises(NotAcknowledged, match="unroutable"):
            await other_key.write(b"elsewhere", "ext-3")
        await other_key.close()
        for queue in ("porthub.baku.inbox", "porthub.baku.dead"):
            reader = amqp.KIND.inbox(settings("aktau", declare=False, queue=queue), "baku")
            with pytest.raises(NotConnected, match="403 ACCESS_REFUSED"):
                await reader.connect()
            await reader.close()
        own_queue = amqp.KIND.inbox(settings("aktau"), "aktau")  # to bind and siphon
        with pytest.raises(NotConnected, match="403 ACCESS_REFUSED"):
            await own_queue.connect()
        await own_queue.close()

        # The peers' users have no password: no password logs in as one of them.
        by_password = amqp.KIND.outlet(amqp.AmqpSettings(
            url=f"amqp://aktau@{rabbit_node.host}:{rabbit_node.amqp_port}/{external_vhost}",
            password={"value": "guessed"}, connect_timeout=5.0), "baku", "aktau")
        with pytest.raises(NotConnected, match="login refused for user 'aktau'"):
            await by_password.connect()
        await by_password.close()
        # The broker offers EXTERNAL only on a TLS connection with a client certificate.
        not_offered = amqp.KIND.outlet(settings("aktau").model_copy(update={
            "url": f"amqp://{rabbit_node.host}:{rabbit_node.amqp_port}/"}), "baku", "aktau")
        with pytest.raises(NotConnected, match="does not offer login by certificate"):
            await not_offered.connect()
        await not_offered.close()

        stranger = amqp.KIND.outlet(settings("kuryk"), "baku", "kuryk")
        with pytest.raises(NotConnected, match="login by the client certificate .*kuryk.crt "
                                               "refused: the broker needs a user named as the "
                                               "certificate's common name"):
            await stranger.connect()
        await stranger.close()

    run(scenario())
    rabbit_node.wait_for_log("EXTERNAL login refused: user 'kuryk'")
    # The default exchange (amq.default) routes by queue name; porthub's settings cannot name
    # it, so plain pika tries, with the same connection parameters.
    with pika.BlockingConnection(amqp.connection_parameters(settings("aktau"), "test")) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="amq.default"):
            channel.basic_publish("", "porthub.baku.inbox", b"around the inbox exchange")


@pytest.mark.parametrize(("fields", "message"), [
    ({"url": "amqp://h/"}, "login certificate needs an amqps:// url"),
    ({"url": "amqps://h/"}, "login certificate needs tls.cert and tls.key"),
    ({"url": "amqps://baku@h/", "tls": {"cert": "c.pem", "key": "k.pem"}},
     "remove username and the url's user@"),
    ({"url": "amqps://h/", "password": {"value": "pw"}, "tls": {"cert": "c.pem", "key": "k.pem"}},
     "login certificate uses no password"),
    ({"url": "amqps://h/", "login": "cert"}, "'password' or 'certificate'"),
])
def test_invalid_certificate_login_settings_are_explained(fields: dict, message: str) -> None:
    fields.setdefault("login", "certificate")
    with pytest.raises(Exception) as caught:
        amqp.AmqpSettings(**fields)
    assert message in str(caught.value)
    assert caught.value.errors()[0]["loc"] == ("login",)  # type: ignore[attr-defined]


# -- the hub: a refused certificate loses nothing ---------------------------------------------

def test_refused_certificate_keeps_the_message_queued_until_fixed(
        tmp_path: Path, rabbit_node: RabbitNode, pki_world: PKIWorld,
        caplog: pytest.LogCaptureFixture) -> None:
    """Given aktau's link to baku configured with its expired certificate, a message aktau
    submits stays queued (not sent), and the log says the broker refused the expired
    certificate; once the renewed certificate is configured and aktau restarted, the message
    is delivered and receipted."""
    caplog.set_level(logging.WARNING, logger="hub")
    vhost = f"porthub-{uuid.uuid4().hex[:6]}"
    rabbit_node.rabbitmqctl("add_vhost", vhost)
    rabbit_node.rabbitmqctl("set_permissions", "-p", vhost, USER, ".*", ".*", ".*")

    net = Network(tmp_path, ["aktau", "baku"], inbox_for=lambda hub_id: tls_fields(
        rabbit_node, pki_world, hub_id, vhost=vhost, heartbeat=5))
    config_path = net.sandbox.config_paths["aktau"]
    good = config_path.read_text()

    def use_certificate(name: str) -> None:
        config = yaml.safe_load(good)
        cert, key = pki_world.paths(name)
        config["peers"]["baku"]["transport"]["tls"].update(cert=str(cert), key=str(key))
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    async def scenario() -> None:
        use_certificate("aktau-expired")
        await net.start()
        try:
            [message_id] = (await net.hubs["aktau"].submit(
                "shipment.status", status(1), to="baku")).ids
            link = net.hubs["aktau"].links["baku"]
            await wait_until(lambda: "expired" in (link.last_error or ""), 10,
                             what="aktau's link to report the refused certificate")
            rows = await net.hubs["aktau"].message(message_id)
            assert [r["state"] for r in rows if r["direction"] == "out"] == ["queued"]
            assert net.delivered["baku"] == []

            await net.stop("aktau")
            use_certificate("aktau")
            await net.start("aktau")
            await net.wait_settled("aktau", [message_id], timeout=20)
            assert [e.id for e in net.delivered["baku"]] == [message_id]
        finally:
            await net.stop()

    try:
        run(scenario(), timeout=60)
    finally:
        rabbit_node.rabbitmqctl("delete_vhost", vhost)
    logged = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("link to baku cannot connect: ")]
    assert_said_once_per_reason(logged, "the client certificate", "aktau-expired/aktau.crt has "
                                "expired (or is not yet valid): install the renewed one")


def assert_said_once_per_reason(logged: list[str], *expected: str) -> None:
    """Each reason logged once, not at every attempt: the broker's alert (with ``expected`` in
    it) or, when a write met the closed socket before the alert was read, the closed
    connection."""
    assert logged and len(set(logged)) == len(logged), logged
    assert any(all(e in line for e in expected) for line in logged), logged
    assert all("the broker refused the TLS connection" in line
               or "the broker closed the TLS connection" in line for line in logged), logged

