"""``porthub run`` as a sysadmin meets it: exit codes, signals, the HTTP listener, reload."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from hub.sandbox import build_sandbox
from hub.security import pki
from tests.support.hubproc import HubProcess


@pytest.fixture
def sandbox(tmp_path):
    broker = f"t{uuid.uuid4().hex[:6]}"
    return build_sandbox(tmp_path, ["aktau", "baku"],
                         lambda h: {"kind": "memory", "broker": broker})


@pytest.fixture
def baku(sandbox):
    with HubProcess(sandbox.config_paths["baku"]) as proc:
        proc.start()
        proc.wait_http()
        yield proc


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          timeout=60)


def edit(path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


BAD_CONFIGS = [
    ("missing key", lambda d: d["hub"].pop("cert"), ":1: hub.cert: Field required"),
    ("unknown key", lambda d: d["hub"].update(colour="blue"), "hub.colour: unknown key"),
    ("wrong type", lambda d: d.update(retry={"window": "many"}), "retry.window: Input should be a valid integer"),
    ("unknown adapter", lambda d: d.update(adapters={"tos": {"kind": "filedorp"}}),
     "No such adapter: 'filedorp'. Did you mean 'filedrop'?"),
    ("route to an unknown peer", lambda d: d.update(routes=[{"type": "customs.*", "to": "kuryk"}]),
     "'kuryk', which is not among the peers"),
]


@pytest.mark.parametrize("name, change, message", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_2_with_a_clear_error(sandbox, name, change, message) -> None:
    path = sandbox.config_paths["baku"]
    edit(path, change)
    result = run_check("run", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and str(path) in result.stderr


def test_unreadable_key_and_mismatched_certificate_exit_2(sandbox, tmp_path) -> None:
    path = sandbox.config_paths["baku"]
    edit(path, lambda d: d["hub"].update(key=str(tmp_path / "nowhere.key")))
    result = run_check("run", "-c", str(path))
    assert result.returncode == 2 and "nowhere.key" in result.stderr
    other_cert, _ = pki.issue(sandbox.ca_dir, "baku", tmp_path / "other")
    edit(path, lambda d: d["hub"].update(key=str(tmp_path / "baku/tls/baku.key"),
                                         cert=str(other_cert)))
    result = run_check("run", "-c", str(path))
    assert result.returncode == 2 and "does not match" in result.stderr
    assert "PRIVATE KEY" not in result.stderr


def test_http_listener_answers_and_metrics_pass_promtool(baku) -> None:
    """Given a running hub, /healthz and /readyz answer 200, the status names its peers, and a
    /metrics scrape passes `promtool check metrics`."""
    assert baku.get("/healthz")[0] == 200
    deadline = time.monotonic() + 20
    while baku.get("/readyz")[0] != 200:
        assert time.monotonic() < deadline, baku.get("/readyz")
        time.sleep(0.1)
    status, body = baku.get_json("/api/v1/status")
    assert status == 200 and body["hub"] == "baku" and set(body["peers"]) == {"aktau"}
    status, metrics = baku.get("/metrics")
    assert status == 200 and b"porthub_build_info" in metrics
    assert b"porthub_certificate_expiry_timestamp_seconds" in metrics
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is needed; scripts/test installs it"
    check = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert baku.get("/api/v1/messages/nope")[0] == 404


def test_sighup_adds_a_peer_and_refuses_an_invalid_config(baku, sandbox) -> None:
    """Given a running hub, a new peer in the file is taken on SIGHUP without a restart; an
    invalid file on SIGHUP is refused with a log line and the hub keeps running as it was."""
    path = sandbox.config_paths["baku"]
    edit(path, lambda d: d["peers"].update(
        kuryk={"transport": d["peers"]["aktau"]["transport"], "may_send": ["shipment.*"]}))
    baku.signal(signal.SIGHUP)
    baku.wait_log(lambda l: "reloaded" in l["msg"] and "added peer kuryk" in l["msg"], 20,
                  "the reload")
    assert set(baku.get_json("/api/v1/status")[1]["peers"]) == {"aktau", "kuryk"}

    edit(path, lambda d: d["hub"].update(colour="blue"))
    baku.signal(signal.SIGHUP)
    line = baku.wait_log(lambda l: l["msg"].startswith("reload refused"), 20, "the refusal")
    assert "hub.colour: unknown key" in line["msg"] and line["level"] == "error"
    assert baku.get("/healthz")[0] == 200
    assert set(baku.get_json("/api/v1/status")[1]["peers"]) == {"aktau", "kuryk"}
    assert baku.terminate() == 0


def test_sigterm_stops_the_hub_cleanly(baku, tmp_path) -> None:
    """Given a running hub, SIGTERM makes it exit 0 within the bound, with its store intact."""
    assert baku.terminate() == 0
    with sqlite3.connect(tmp_path / "baku/data/hub.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert any(l["msg"].startswith("hub baku stopping") for l in baku.log())
