"""A network on two transports: aktau and baku keep their inboxes on RabbitMQ (a vhost each),
kuryk on its own Mosquitto. Every hub reaches each peer by the transport of that peer's inbox,
so one hub writes AMQP to some peers and MQTT to others, and receipts travel back the same
way."""

from __future__ import annotations

import pytest

from hub.transports.amqp import AmqpOutlet
from hub.transports.base import OutletWrapper
from hub.transports.mqtt import MqttOutlet
from tests.amqp.conftest import Ports, port_vhosts, ports  # noqa: F401 (fixtures)
from tests.amqp.traffic import RETRY, assert_exactly_once, exchange
from tests.core.bodies import DECISION, STATUS
from tests.mqtt.conftest import MqttPorts
from tests.support.aio import run
from tests.support.network import Network

pytestmark = [pytest.mark.mosquitto, pytest.mark.rabbitmq]

AMQP_PORTS = ("aktau", "baku")
MQTT_PORT = "kuryk"


def mixed_network(tmp_path, ports: Ports, mqtt_ports: MqttPorts) -> Network:  # noqa: F811
    mqtt_ports.add(MQTT_PORT)
    on_amqp, on_mqtt = ports.inbox_for(), mqtt_ports.inbox_for()
    return Network(tmp_path, [*AMQP_PORTS, MQTT_PORT],
                   inbox_for=lambda hub: on_mqtt(hub) if hub == MQTT_PORT else on_amqp(hub),
                   extra={"retry": RETRY})


def test_three_hubs_on_amqp_and_mqtt_send_to_each_other(tmp_path, ports: Ports,  # noqa: F811
                                                        mqtt_ports: MqttPorts) -> None:
    """Given aktau and baku on AMQP and kuryk on MQTT, when every hub sends 300 messages to
    each of the two others at once (1,800 in all), every message is receipted and handed over
    exactly once."""
    net = mixed_network(tmp_path, ports, mqtt_ports)

    async def scenario() -> None:
        await net.start()
        try:
            for hub in net.hubs.values():
                for peer, link in hub.links.items():
                    outlet = link.outlet
                    while isinstance(outlet, OutletWrapper):  # sealing, wire encoding
                        outlet = outlet.outlet
                    assert isinstance(outlet, MqttOutlet if peer == MQTT_PORT else AmqpOutlet)
            streams = await exchange(net, 300, timeout=90)
            assert_exactly_once(net, streams)
        finally:
            await net.stop()

    run(scenario(), timeout=120)


def test_customs_decision_from_an_amqp_port_to_the_mqtt_port_and_status_back(
        tmp_path, ports: Ports, mqtt_ports: MqttPorts) -> None:  # noqa: F811
    """Given baku on AMQP and kuryk on MQTT, when baku sends kuryk a customs.decision, kuryk
    hands it over as signed by baku and receipts it (over AMQP); when kuryk answers with a
    shipment.status for the same shipment, baku hands that over and receipts it (over MQTT)."""
    net = mixed_network(tmp_path, ports, mqtt_ports)
    shipment = DECISION["bill_of_lading"]

    async def scenario() -> None:
        await net.start()
        try:
            baku, kuryk = net.hubs["baku"], net.hubs[MQTT_PORT]
            decision = await baku.submit("customs.decision", DECISION, to=MQTT_PORT,
                                         correlation_id=shipment)
            await net.wait_settled("baku", decision.ids)
            [got] = net.delivered[MQTT_PORT]
            assert (got.id, got.type, got.sender, got.to, got.correlation_id, got.body) == (
                decision.ids[0], "customs.decision", "baku", MQTT_PORT, shipment, DECISION)

            released = {**STATUS, "status": "released", "note": DECISION["declaration_ref"]}
            answer = await kuryk.submit("shipment.status", released, to="baku",
                                        correlation_id=got.correlation_id)
            await net.wait_settled(MQTT_PORT, answer.ids)
            [back] = net.delivered["baku"]
            assert (back.id, back.type, back.sender, back.to, back.correlation_id, back.body) == (
                answer.ids[0], "shipment.status", MQTT_PORT, "baku", shipment, released)
            assert net.delivered["aktau"] == []
        finally:
            await net.stop()

    run(scenario(), timeout=60)
