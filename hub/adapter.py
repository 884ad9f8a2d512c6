"""The adapter interface: how the port's own systems meet the hub.

An adapter is built with its validated configuration and a ``HubHandle``. It may have an
*input* side (``run``: read the local system and ``submit`` what it finds) and an *output*
side (``deliver``: hand one inbound message to the local system). The hub owns everything
around them: it restarts a failed ``run`` with back-off, retries a ``deliver`` that raised
``TransientError``, dead-letters one that raised ``PermanentError``, tells the adapter how its
submitted messages ended (``on_outcome``) and counts it all in metrics. Adapters only raise.

Delivery to an adapter is at least once (a crash between ``deliver`` returning and the hub
recording it repeats the call), so ``deliver`` must be idempotent by ``envelope.id``: write a
file named after it, insert with it as the key, or pass it on as an idempotency key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Envelope
from .errors import PermanentError, SubmitError

if TYPE_CHECKING:
    from .core import Hub, Submitted


class AdapterConfig(BaseModel):
    """Every adapter's settings derive from this; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    receives: list[str] = Field(default_factory=list,
                                description="type patterns of inbound messages handed to this "
                                            "adapter, e.g. ['customs.*']")


@dataclass(frozen=True)
class Outcome:
    """How a message an adapter submitted ended: delivered, rejected, expired."""

    message_id: str
    peer: str
    state: str
    reason: str | None
    at: float


@dataclass(frozen=True)
class SubmitRequest:
    """One message for ``HubHandle.submit_many``: the arguments of ``submit``."""

    type: str
    body: Any
    to: str | Sequence[str] | None = None
    correlation_id: str | None = None
    ttl: float | None = None
    idempotency_key: str | None = None


class HubHandle:
    """What an adapter may do with its hub: submit, look a message up, keep its own state."""

    def __init__(self, hub: "Hub", adapter_name: str) -> None:
        self._hub = hub
        self.name = adapter_name

    @property
    def hub_id(self) -> str:
        return self._hub.id

    @property
    def state_dir(self) -> Path:
        """A folder for the adapter's own durable state (created on first use)."""
        path = self._hub.config.hub.data_dir / "adapters" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def submit(self, type: str, body: Any, *, to: str | Sequence[str] | None = None,
                     correlation_id: str | None = None, ttl: float | None = None,
                     idempotency_key: str | None = None) -> "Submitted":
        """Sign and queue; with ``idempotency_key``, a repeated submit returns the first one's
        ids instead of queuing again (so an adapter that crashed after submitting and before
        recording it does not send twice)."""
        return await self._hub.submit(type, body, to=to, correlation_id=correlation_id,
                                      ttl=ttl, idempotency_key=idempotency_key,
                                      source=self.name)

    async def submit_many(self, requests: Sequence[SubmitRequest]
                          ) -> list["Submitted | SubmitError"]:
        """Submit several messages at once (every file of one look at a hot folder, say):
        their store writes share the store's commits, where ``submit`` after ``submit``
        waits for one commit each. Ids are assigned and messages queued in the order given,
        so the messages of one correlation id keep their order.

        Returns one result per request, in order: what ``submit`` returns, or the
        ``SubmitError`` that refused that request (the others are submitted all the same).
        Any other error is raised."""
        async def one(request: SubmitRequest) -> "Submitted | SubmitError":
            try:
                return await self.submit(
                    request.type, request.body, to=request.to,
                    correlation_id=request.correlation_id, ttl=request.ttl,
                    idempotency_key=request.idempotency_key)
            except SubmitError as exc:
                return exc

        # Each submit signs and assigns its id before its first wait (the store write), and
        # gather starts them in order: the ids and the outbox keep the order given.
        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def message(self, message_id: str) -> list[dict[str, Any]]:
        """The message's records (outgoing and/or incoming) with their history."""
        return await self._hub.message(message_id)

    def count_refused(self) -> None:
        """Count one input that cannot become a message (a bad file, row or request), in
        ``porthub_adapter_errors_total{side="input", kind="permanent"}``: the operator's
        signal that the local system sent something that needs a look."""
        self._hub.metrics.adapter_errors.labels(self.name, "input", "permanent").inc()


class Adapter:
    """Base class. Subclasses set ``config_model`` and override what they support."""

    config_model: ClassVar[type[AdapterConfig]] = AdapterConfig

    def __init__(self, name: str, config: AdapterConfig, hub: HubHandle) -> None:
        self.name = name
        self.config = config
        self.hub = hub

    async def run(self) -> None:
        """The input side: read the local system and submit. Return when there is no input
        side; raise ``TransientError`` to be restarted with back-off."""

    async def deliver(self, envelope: Envelope) -> None:
        """The output side: hand ``envelope`` to the local system, idempotently by its id."""
        raise PermanentError(f"adapter {self.name!r} does not take inbound messages")

    async def check(self) -> list[str]:
        """Problems ``porthub check`` should report (folders missing, not writable...), as
        sentences; empty when all is well. Must not change anything (hook)."""
        return []

    async def on_outcome(self, outcome: Outcome) -> None:
        """A message this adapter submitted reached an end state (hook; no-op by default)."""

    async def close(self) -> None:
        """Release everything (hook; no-op by default)."""
