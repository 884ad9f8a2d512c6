"""Several hubs in one event loop, for the core's tests (in-memory transport by default)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import yaml

from hub.core import Hub
from hub.envelope import Envelope
from hub.sandbox import build_sandbox
from hub.transports import memory
from tests.support.aio import wait_until

FAST_RETRY = {"retry": {"receipt_timeout": "300ms", "maximum": "2s",
                        "reconnect_initial": "50ms", "reconnect_maximum": "500ms",
                        "handover_initial": "50ms"}}


class Network:
    """Hubs that share an in-memory broker, each with a sink recording what it delivered."""

    def __init__(self, root: Path, hub_ids: list[str], *, policy=None, routes=None,
                 extra: dict | None = None,
                 inbox_for: Callable[[str], dict[str, Any]] | None = None,
                 adapters: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
        self.broker_name = f"net-{uuid.uuid4().hex[:8]}"
        self.sandbox = build_sandbox(
            root, hub_ids, inbox_for or (lambda h: {"kind": "memory", "broker": self.broker_name}),
            policy=policy, routes=routes, extra={**FAST_RETRY, **(extra or {})})
        self.hubs: dict[str, Hub] = {}
        self.delivered: dict[str, list[Envelope]] = {h: [] for h in hub_ids}
        self.sink_fault: dict[str, Exception | None] = {h: None for h in hub_ids}
        for hub_id, configured in (adapters or {}).items():
            self.set_adapters(hub_id, configured)

    def set_adapters(self, hub_id: str, adapters: dict[str, dict[str, Any]]) -> None:
        """Give ``hub_id`` these adapters (name -> settings) from its next start on; a hub
        with adapters hands inbound messages to them instead of the test sink."""
        path = self.sandbox.config_paths[hub_id]
        config = yaml.safe_load(path.read_text())
        config["adapters"] = adapters
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def broker(self) -> memory.MemoryBroker:
        return memory.get_broker(self.broker_name)

    async def start(self, *hub_ids: str, clock=None) -> None:
        for hub_id in hub_ids or self.delivered:
            kwargs = {"clock": clock} if clock else {}
            hub = Hub.from_config(self.sandbox.config(hub_id), **kwargs)
            hub.local_delivery = self._sink(hub_id)
            await hub.start()
            self.hubs[hub_id] = hub
            await wait_until(lambda: hub.intake.connected, 10, what=f"{hub_id}'s inbox")

    def _sink(self, hub_id: str):
        async def deliver(envelope: Envelope) -> None:
            fault = self.sink_fault[hub_id]
            if fault is not None:
                raise fault
            self.delivered[hub_id].append(envelope)
        return deliver

    async def stop(self, *hub_ids: str) -> None:
        for hub_id in hub_ids or list(self.hubs):
            hub = self.hubs.pop(hub_id)
            await hub.stop()

    async def wait_settled(self, hub_id: str, ids: list[str], states=("delivered",),
                           timeout: float = 20.0) -> None:
        """Poll the sender's store until every id is in one of ``states``."""
        hub = self.hubs[hub_id]
        pending = set(ids)

        async def check() -> None:
            for message_id in list(pending):
                rows = await hub.message(message_id)
                if any(r["direction"] == "out" and r["state"] in states for r in rows):
                    pending.discard(message_id)

        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            await check()
            if not pending:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(pending)} messages of {hub_id} not {states}: "
                                     f"{sorted(pending)[:3]}")
            await asyncio.sleep(0.05)

    async def wait_delivered(self, hub_id: str, count: int, timeout: float = 20.0) -> None:
        await wait_until(lambda: len(self.delivered[hub_id]) >= count, timeout,
                         what=f"{count} messages handed over at {hub_id}")

    def duplicates(self, hub_id: str) -> list[str]:
        return [i for i, n in Counter(e.id for e in self.delivered[hub_id]).items() if n > 1]
