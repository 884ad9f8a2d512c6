"""Ports whose local systems are hot folders: each hub of a sandbox gets a filedrop adapter on
``<root>/<hub>/files/in`` and ``.../out``, and helpers drop files there and read them back as
a legacy system would. Used by the multi-process tests (tests/ops, tests/chaos)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from hub.sandbox import Sandbox
from tests.support.hubproc import HubProcess


def add_filedrop(sandbox: Sandbox, root: Path, **settings: Any) -> None:
    """Give every hub of ``sandbox`` a filedrop adapter ``drop`` that receives everything;
    ``settings`` override its defaults (fast polling, no settle time)."""
    for hub_id, path in sandbox.config_paths.items():
        folders = {side: root / hub_id / "files" / side for side in ("in", "out")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        config = yaml.safe_load(path.read_text())
        config["adapters"] = {"drop": {"kind": "filedrop", "receives": ["*"],
                                       "inbox_dir": str(folders["in"]),
                                       "outbox_dir": str(folders["out"]),
                                       "poll_interval": 0.2, "settle_time": 0, **settings}}
        path.write_text(yaml.safe_dump(config, sort_keys=False))


def drop(root: Path, hub_id: str, name: str, document: dict) -> None:
    """Write a file into the hub's hot folder the way a legacy system should: write, rename."""
    folder = root / hub_id / "files" / "in"
    (folder / f".{name}.tmp").write_text(json.dumps(document))
    (folder / f".{name}.tmp").rename(folder / name)


def written(root: Path, hub_id: str) -> list[dict]:
    """The files the hub wrote to its outbox folder, as a reader that skips dotfiles sees them."""
    out = root / hub_id / "files" / "out"
    return [json.loads(p.read_text()) for p in sorted(out.iterdir()) if not p.name.startswith(".")]


def outcome(root: Path, hub_id: str, name: str) -> str | None:
    """The state the outcome file of dropped file ``name`` says, or None (not yet written)."""
    path = root / hub_id / "files" / "in" / "done" / f"{name}.outcome.json"
    try:
        return json.loads(path.read_text())["state"]
    except (OSError, ValueError):
        return None


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             hubs: Iterable[HubProcess] = ()) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` or as soon as a hub dies."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for hub in hubs:
            assert hub.running, f"{hub.hub_id} died\n{hub.log_tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start(hubs: dict[str, HubProcess], *names: str) -> None:
    """Start the named hubs, then wait until each is ready and listens on HTTP."""
    for name in names:
        hubs[name].start()
    for name in names:
        hubs[name].wait_ready()
        hubs[name].wait_http()
