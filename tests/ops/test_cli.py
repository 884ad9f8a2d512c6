"""The sysadmin's commands: check, config sample, send, status, trace, dlq, audit verify."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
import yaml

from hub.cli import main
from hub.config import HttpSection, HubSection, Limits, LogSection, Retry, validate_config
from hub.commands.config import sample_text
from hub.errors import PermanentError
from hub.sandbox import build_sandbox
from tests.core.bodies import STATUS
from tests.support.aio import run
from tests.support.network import Network


@pytest.fixture
def sandbox(tmp_path):
    broker = f"t{uuid.uuid4().hex[:6]}"
    return build_sandbox(tmp_path, ["aktau", "baku"],
                         lambda h: {"kind": "memory", "broker": broker})


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_config_is_valid_and_shows_every_setting() -> None:
    text = sample_text()
    config = validate_config(yaml.safe_load(text), "sample.yaml")
    assert config.hub.id == "baku" and config.peers["turkmenbashi"].transport.kind == "mqtt"
    for section, model in (("hub", HubSection), ("http", HttpSection), ("log", LogSection),
                           ("limits", Limits), ("retry", Retry)):
        assert f"\n{section}:" in text
        for field in model.model_fields:
            assert f"\n  {field}:" in text, f"{section}.{field} is missing from the sample"


def test_config_sample_prints_it(capsys) -> None:
    code, out, _ = cli(capsys, "config", "sample")
    assert code == 0 and out == sample_text()


def test_check_accepts_a_good_config_and_reaches_the_broker(sandbox, capsys) -> None:
    code, out, err = cli(capsys, "check", "-c", str(sandbox.config_paths["baku"]), "--connect")
    assert code == 0, err
    assert "certificate of baku valid" in out and "peer aktau: connected" in out


def test_check_reports_an_unwritable_data_dir(sandbox, capsys, tmp_path) -> None:
    path = sandbox.config_paths["baku"]
    data = yaml.safe_load(path.read_text())
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data["hub"]["data_dir"] = str(blocker)
    path.write_text(yaml.safe_dump(data))
    code, _out, err = cli(capsys, "check", "-c", str(path))
    assert code == 1 and f"hub.data_dir {blocker} is not a folder" in err


def test_check_exits_2_on_an_invalid_file(sandbox, capsys) -> None:
    path = sandbox.config_paths["baku"]
    path.write_text(path.read_text() + "colour: blue\n")
    code, _out, err = cli(capsys, "check", "-c", str(path))
    assert code == 2 and "colour: unknown key" in err


def test_send_queues_and_status_and_trace_show_it(sandbox, capsys) -> None:
    """Given no running hub, `send` queues a message in the outbox; `status` says the hub is
    not running and counts it; `trace` shows its history."""
    config = str(sandbox.config_paths["aktau"])
    code, out, err = cli(capsys, "send", "-c", config, "--type", "shipment.status",
                         "--to", "baku", "--correlation-id", "AKTBAK250001",
                         "--body", json.dumps(STATUS))
    assert code == 0, err
    message_id = out.split()[0]
    code, out, _ = cli(capsys, "status", "-c", config)
    assert code == 0 and "NOT RUNNING" in out and "queued      1" in out
    code, out, _ = cli(capsys, "trace", "-c", config, message_id)
    assert code == 0 and "aktau → baku" in out and "queued" in out
    code, _out, err = cli(capsys, "send", "-c", config, "--type", "shipment.statu",
                          "--to", "baku", "--body", "{}")
    assert code == 1 and "Did you mean 'shipment.status'" in err


def test_dlq_and_trace_of_a_delivered_message(tmp_path, capsys) -> None:
    """Given a delivered message, an expired one and one baku's local system refused, trace
    shows the signed receipt, dlq lists the two dead letters, retry and drop settle them."""
    net = Network(tmp_path, ["aktau", "baku"])
    ids = {}

    async def scenario() -> None:
        await net.start()
        net.sink_fault["baku"] = PermanentError("customs office unknown")
        ids["refused"] = (await net.hubs["aktau"].submit("shipment.status", STATUS,
                                                         to="baku")).ids[0]
        await net.wait_settled("aktau", [ids["refused"]])
        await net.stop("baku")
        ids["expired"] = (await net.hubs["aktau"].submit("shipment.status", STATUS, to="baku",
                                                         ttl=0.5)).ids[0]
        await net.wait_settled("aktau", [ids["expired"]], states=("expired",))
        await net.stop()

    run(scenario())
    aktau, baku = (str(net.sandbox.config_paths[h]) for h in ("aktau", "baku"))
    code, out, _ = cli(capsys, "trace", "-c", aktau, ids["refused"])
    assert code == 0 and "accepted (signed receipt" in out and "delivered" in out
    code, out, _ = cli(capsys, "dlq", "list", "-c", baku)
    assert ids["refused"] in out and "customs office unknown" in out
    code, out, _ = cli(capsys, "dlq", "retry", "-c", baku, ids["refused"])
    assert code == 0 and "again" in out
    code, out, _ = cli(capsys, "dlq", "list", "-c", aktau)
    assert ids["expired"] in out and "expired" in out
    code, out, _ = cli(capsys, "dlq", "retry", "-c", aktau, ids["expired"])
    assert code == 0 and "resubmitted as" in out
    code, out, _ = cli(capsys, "dlq", "drop", "-c", aktau, ids["expired"])
    assert code == 1  # already closed by the resubmission
    code, out, _ = cli(capsys, "audit", "verify", "-c", aktau)
    assert code == 0 and "chain intact" in out


def test_audit_verify_finds_a_tampered_log(sandbox, capsys, tmp_path) -> None:
    config = str(sandbox.config_paths["aktau"])
    for n in range(3):
        cli(capsys, "send", "-c", config, "--type", "shipment.status", "--to", "baku",
            "--body", '{"status": "loaded", "at": "2025-03-12T08:15:00Z"}')
    with sqlite3.connect(tmp_path / "aktau/data/hub.db") as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET peer = 'samsun' WHERE seq = 2")
    code, out, _ = cli(capsys, "audit", "verify", "-c", config)
    assert code == 1 and "BROKEN at entry 2" in out
