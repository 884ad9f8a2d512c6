"""Three ports as a sysadmin runs them: three `porthub run` processes, each with its own
broker (two RabbitMQ vhosts, one Mosquitto process) and a filedrop adapter. Files dropped at
one port arrive at the others; SIGHUP adds a fourth port without a restart and refuses an
invalid file; SIGTERM under load loses nothing."""

from __future__ import annotations

import signal

import pytest
import yaml

from hub.sandbox import build_sandbox
from tests.core.bodies import status
from tests.support.hotfolders import add_filedrop, drop, outcome, start, wait_for, written
from tests.support.hubproc import HubProcess
from tests.support.mosquitto import mosquitto_factory  # noqa: F401 - a fixture
from tests.support.rabbit import (PASSWORD, USER, broker_address, create_vhost, delete_vhost,
                                  require_rabbitmq)

pytestmark = [pytest.mark.rabbitmq, pytest.mark.mosquitto]
RETRY = {"receipt_timeout": "1s", "maximum": "3s", "reconnect_initial": "200ms",
         "reconnect_maximum": "1s", "handover_initial": "200ms"}


@pytest.fixture
def ports(tmp_path, mosquitto_factory):  # noqa: F811
    """aktau and baku on RabbitMQ (a vhost each), turkmenbashi on Mosquitto, and kuryk on
    RabbitMQ, which only baku will be told about later."""
    require_rabbitmq()
    host, port = broker_address()
    vhosts = {hub: create_vhost(f"porthub-e2e-{hub}") for hub in ("aktau", "baku", "kuryk")}
    mqtt = mosquitto_factory()

    def inbox_for(hub_id: str) -> dict:
        if hub_id == "turkmenbashi":
            return {"kind": "mqtt", "host": "127.0.0.1", "port": mqtt.port, "keepalive": 5}
        return {"kind": "amqp", "url": f"amqp://{USER}@{host}:{port}/",
                "password": {"value": PASSWORD}, "vhost": vhosts[hub_id], "heartbeat": 5}

    sandbox = build_sandbox(tmp_path, ["aktau", "baku", "turkmenbashi", "kuryk"], inbox_for,
                            extra={"retry": RETRY})
    add_filedrop(sandbox, tmp_path)
    for hub_id in ("aktau", "baku", "turkmenbashi"):  # the first three know each other only
        path = sandbox.config_paths[hub_id]
        config = yaml.safe_load(path.read_text())
        config["peers"].pop("kuryk")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    hubs = {hub_id: HubProcess(path) for hub_id, path in sandbox.config_paths.items()}
    try:
        yield sandbox, hubs, tmp_path
    finally:
        for hub in hubs.values():
            hub.__exit__(None, None, None)
        for vhost in vhosts.values():
            delete_vhost(vhost)


def test_files_cross_three_ports_and_a_fourth_joins_on_sighup(ports) -> None:
    sandbox, hubs, root = ports
    start(hubs, "aktau", "baku", "turkmenbashi")
    three = [hubs[h] for h in ("aktau", "baku", "turkmenbashi")]

    # A status dropped at aktau for everyone arrives at baku (AMQP) and turkmenbashi (MQTT);
    # one dropped at turkmenbashi reaches aktau.
    drop(root, "aktau", "status-1.json", {"type": "shipment.status", "to": "all",
                                          "correlation_id": "AKTBAK250001", "body": status(1)})
    drop(root, "turkmenbashi", "status-2.json", {"type": "shipment.status", "to": "aktau",
                                                 "body": status(2)})
    wait_for(lambda: len(written(root, "baku")) == 1 and len(written(root, "turkmenbashi")) == 1
             and len(written(root, "aktau")) == 1, 60, "the files to arrive", three)
    assert written(root, "baku")[0]["body"] == status(1)
    assert written(root, "aktau")[0]["from"] == "turkmenbashi"
    wait_for(lambda: outcome(root, "aktau", "status-1.json") == "delivered", 30,
             "aktau's outcome file to say delivered", three)

    # kuryk joins: baku learns of it on SIGHUP, without a restart.
    start(hubs, "kuryk")
    path = sandbox.config_paths["baku"]
    config = yaml.safe_load(path.read_text())
    kuryk_inbox = yaml.safe_load(sandbox.config_paths["kuryk"].read_text())["inbox"]
    config["peers"]["kuryk"] = {"transport": kuryk_inbox, "may_send": ["*"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    baku_pid = hubs["baku"].proc.pid
    hubs["baku"].signal(signal.SIGHUP)
    hubs["baku"].wait_log(lambda l: "added peer kuryk" in l.get("msg", ""), 30, "the reload")
    drop(root, "baku", "status-3.json", {"type": "shipment.status", "to": "kuryk",
                                         "body": status(3)})
    wait_for(lambda: len(written(root, "kuryk")) == 1, 60, "the file at kuryk", three)
    assert hubs["baku"].proc.pid == baku_pid

    # An invalid file on SIGHUP is refused; baku keeps working on the old configuration.
    path.write_text(path.read_text() + "colour: blue\n")
    hubs["baku"].signal(signal.SIGHUP)
    hubs["baku"].wait_log(lambda l: l.get("msg", "").startswith("reload refused"), 30,
                          "the refusal")
    drop(root, "baku", "status-4.json", {"type": "shipment.status", "to": "kuryk",
                                         "body": status(4)})
    wait_for(lambda: len(written(root, "kuryk")) == 2, 60, "the second file at kuryk", three)
    for hub in hubs.values():
        assert hub.terminate() == 0


def test_sigterm_under_load_loses_nothing(ports) -> None:
    """Given 150 files flowing from aktau to baku, SIGTERM to baku mid-stream and a restart:
    every file arrives at baku exactly once and aktau's outcome files all say delivered."""
    sandbox, hubs, root = ports
    start(hubs, "aktau", "baku")
    total = 150
    for n in range(total):
        drop(root, "aktau", f"s{n:03d}.json", {"type": "shipment.status", "to": "baku",
                                              "body": status(n)})
    wait_for(lambda: len(written(root, "baku")) >= 20, 60, "the stream to start",
             [hubs["aktau"], hubs["baku"]])
    assert hubs["baku"].terminate() == 0
    hubs["baku"].start()
    hubs["baku"].wait_ready()
    wait_for(lambda: len(written(root, "baku")) >= total, 120, "every file at baku",
             [hubs["aktau"], hubs["baku"]])
    ids = [m["id"] for m in written(root, "baku")]
    assert len(ids) == len(set(ids)) == total
    assert sorted(m["body"]["note"] for m in written(root, "baku")) == \
        sorted(status(n)["note"] for n in range(total))
    wait_for(lambda: all(outcome(root, "aktau", f"s{n:03d}.json") == "delivered"
                         for n in range(total)), 60, "every outcome to say delivered",
             [hubs["aktau"], hubs["baku"]])
    for hub in (hubs["aktau"], hubs["baku"]):
        assert hub.terminate() == 0

