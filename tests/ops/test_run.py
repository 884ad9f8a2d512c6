"""``porthub run`` as a process: starts, serves, stops on SIGTERM with exit 0, and refuses a
bad configuration with exit 2."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

from hub.sandbox import build_sandbox


def porthub(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_bad_config_exits_2_naming_the_key(tmp_path) -> None:
    path = tmp_path / "porthub.yaml"
    path.write_text("hub:\n  id: baku\n  colour: blue\n")
    proc = porthub("run", "-c", str(path))
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"{path}:3: hub.colour: unknown key" in err


def test_sigterm_stops_the_hub_cleanly(tmp_path) -> None:
    """Given a running hub, SIGTERM makes it exit 0 within the bound, with its store intact."""
    broker = f"t{uuid.uuid4().hex[:6]}"
    sandbox = build_sandbox(tmp_path, ["aktau", "baku"],
                            lambda h: {"kind": "memory", "broker": broker})
    proc = porthub("run", "-c", str(sandbox.config_paths["baku"]))
    db = tmp_path / "baku/data/hub.db"
    deadline = time.monotonic() + 30
    while not db.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the store was never created"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
