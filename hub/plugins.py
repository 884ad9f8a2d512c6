"""Adapters by name: the ``porthub.adapters`` entry-point group (built-ins register there too),
loaded lazily, and the host that runs the configured adapters for a hub.

A broken optional adapter (a missing library) fails only the configuration that uses it, with
a clear message; an unknown name answers with the closest known one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from fnmatch import fnmatchcase
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from . import events as ev
from .adapter import Adapter, AdapterConfig, HubHandle, Outcome
from .backoff import Backoff
from .envelope import Envelope
from .errors import ConfigError, PermanentError, TransientError
from .names import did_you_mean

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)

GROUP = "porthub.adapters"
OUTCOMES = {ev.DELIVERED: "delivered", ev.REJECTED: "rejected", ev.EXPIRED: "expired"}


@functools.cache
def available() -> dict[str, EntryPoint]:
    """The registered adapters by name (scanning the installed distributions takes tens of
    milliseconds, so it is done once per process)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_class(kind: str) -> type[Adapter]:
    """The adapter class registered as ``kind``."""
    known = available()
    entry = known.get(kind)
    if entry is None:
        hint = did_you_mean(kind, known) or " No adapters are registered: is porthub installed?"
        raise ConfigError(f"No such adapter: {kind!r}.{hint}")
    try:
        cls = entry.load()
    except Exception as exc:  # noqa: BLE001 - any import failure of an optional adapter
        raise ConfigError(f"adapter {kind!r} cannot be loaded ({entry.value}): {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ConfigError(f"adapter {kind!r} ({entry.value}) is not a porthub Adapter")
    return cls


def adapter_config(value: Any) -> AdapterConfig:
    """Validate one adapter's settings with the model its kind declares."""
    if isinstance(value, AdapterConfig):
        return value
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError("an adapter needs a 'kind' (e.g. filedrop, http, sql)")
    cls = adapter_class(str(value["kind"]))
    try:
        return cls.config_model.model_validate(value)
    except ValidationError:
        raise  # pydantic reports the keys; the config loader adds file and line


class AdapterHost:
    """Runs a hub's adapters: their input loops, deliveries by type, outcome notices."""

    def __init__(self, hub: "Hub", configs: dict[str, AdapterConfig]) -> None:
        self.hub = hub
        self.adapters: dict[str, Adapter] = {
            name: adapter_class(config.kind)(name, config, HubHandle(hub, name))
            for name, config in configs.items()}
        retry = hub.config.retry
        self._backoff = Backoff(retry.reconnect_initial, retry.reconnect_maximum)
        self._notices: set[asyncio.Task] = set()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [self.hub._spawn(f"adapter:{name}", lambda a=adapter: self._run(a))
                       for name, adapter in self.adapters.items()]

    async def _run(self, adapter: Adapter) -> None:
        failures = 0
        while True:
            try:
                await adapter.run()
                return
            except TransientError as exc:
                failures += 1
                self._count(adapter.name, "input", "transient")
                log.warning("adapter %s input failed, retrying: %s", adapter.name, exc,
                            extra={"adapter": adapter.name})
                await asyncio.sleep(self._backoff.delay(failures))

    def target(self, type_name: str) -> Adapter | None:
        """The first adapter (in configuration order) that receives ``type_name``."""
        for adapter in self.adapters.values():
            if any(fnmatchcase(type_name, p) for p in adapter.config.receives):
                return adapter
        return None

    async def deliver(self, envelope: Envelope) -> None:
        adapter = self.target(envelope.type)
        if adapter is None:
            raise PermanentError(f"no adapter receives {envelope.type!r} messages")
        try:
            await adapter.deliver(envelope)
        except TransientError:
            self._count(adapter.name, "output", "transient")
            raise
        except Exception:
            self._count(adapter.name, "output", "permanent")
            raise

    def on_event(self, event: ev.Event) -> None:
        """Observer: tell the submitting adapter how its message ended."""
        state = OUTCOMES.get(event.kind)
        adapter = self.adapters.get(event.detail.get("source") or "")
        if state is None or adapter is None:
            return
        outcome = Outcome(event.message_id, event.peer, state, event.reason, event.at)
        task = asyncio.get_running_loop().create_task(self._notify(adapter, outcome))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _notify(self, adapter: Adapter, outcome: Outcome) -> None:
        try:
            await adapter.on_outcome(outcome)
        except Exception:  # noqa: BLE001 - logged with what failed, never swallowed silently
            self._count(adapter.name, "outcome", "permanent")
            log.exception("adapter %s failed on the outcome of %s", adapter.name,
                          outcome.message_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for task in self._tasks:
            if task in self.hub._tasks:
                self.hub._tasks.remove(task)
        if self._notices:
            await asyncio.wait(set(self._notices), timeout=5)
        for adapter in self.adapters.values():
            try:
                await adapter.close()
            except Exception:  # noqa: BLE001
                log.exception("adapter %s failed to close", adapter.name)

    def _count(self, adapter: str, side: str, kind: str) -> None:
        self.hub.metrics.adapter_errors.labels(adapter, side, kind).inc()
