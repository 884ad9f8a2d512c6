"""The conformance suite every adapter passes, against its real local system.

Each adapter's test module subclasses ``Conformance`` and gives a ``harness`` fixture: the
local systems at both ends -- aktau's emits messages through the adapter, baku's takes them
from it -- and ways to break baku's for a while (transient) or for good (permanent). The
suite then checks, through two real hubs on the in-memory transport: start and stop, submit
and deliver exactly once, a transient failure retried until it succeeds, a permanent one
dead-lettered and counted while the next message still flows, and a repeated delivery that
has no second effect.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from hub import events as ev
from hub.envelope import Envelope
from hub.security import jws
from tests.core.bodies import status
from tests.support.aio import run, wait_until
from tests.support.network import Network

SENDER, RECEIVER = "aktau", "baku"
STOP_BOUND = 10.0  # seconds two hubs with their adapters may take to stop


class Harness(ABC):
    """The local systems at aktau (emits) and baku (takes) for one adapter kind."""

    #: the adapter's name at both hubs
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.net: Network | None = None  # set while the hubs run

    def adapter(self, hub_id: str) -> Any:
        """The running adapter at ``hub_id``."""
        assert self.net is not None
        return self.net.hubs[hub_id].adapters.adapters[self.name]

    @abstractmethod
    def adapters(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Adapter settings per hub: ``{"aktau": {name: {...}}, "baku": {name: {...}}}``."""

    async def start(self) -> None:
        """Start what the local systems need (a server, a schema), before the hubs."""

    async def stop(self) -> None:
        """Stop it again, after the hubs."""

    @abstractmethod
    async def emit(self, n: int) -> None:
        """aktau's local system emits its n-th shipment.status for baku (body ``status(n)``)."""

    @abstractmethod
    async def taken(self) -> list[dict[str, Any]]:
        """Every message baku's local system holds, as canonical JSON objects, one per copy
        (a message it holds twice appears twice)."""

    @abstractmethod
    async def break_output(self) -> None:
        """Make delivery to baku's local system fail for a while (a TransientError)."""

    @abstractmethod
    async def refuse_output(self) -> None:
        """Make delivery to baku's local system fail for good (a PermanentError)."""

    @abstractmethod
    async def heal_output(self) -> None:
        """Undo ``break_output`` / ``refuse_output``."""


class EventLog:
    """Observer: the events of one hub, by kind."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        self.events.append(event)

    def ids(self, kind: str) -> list[str]:
        return [e.message_id for e in self.events if e.kind == kind]


@asynccontextmanager
async def running(harness: Harness, root: Path) -> AsyncIterator[tuple[Network, EventLog]]:
    """Two hubs with the harness's adapters, an event log of baku, stopped within a bound."""
    await harness.start()
    net = Network(root / "net", [SENDER, RECEIVER], adapters=harness.adapters())
    try:
        await net.start()
        harness.net = net
        log = EventLog()
        net.hubs[RECEIVER].events.observers.append(log)
        yield net, log
    finally:
        harness.net = None
        started = time.monotonic()
        await net.stop()
        await harness.stop()
        assert time.monotonic() - started < STOP_BOUND, "stopping the hubs took too long"


def errors(net: Network, hub_id: str, name: str, side: str, kind: str) -> float:
    return net.hubs[hub_id].metrics.value("porthub_adapter_errors_total", adapter=name,
                                          side=side, kind=kind)


async def wait_taken(harness: Harness, count: int, timeout: float = 15.0) -> list[dict]:
    got: list[dict] = []

    async def enough() -> bool:
        got[:] = await harness.taken()
        return len(got) >= count

    deadline = time.monotonic() + timeout
    while not await enough():
        if time.monotonic() > deadline:
            raise AssertionError(f"baku's local system holds {len(got)} messages, "
                                 f"expected {count}")
        await asyncio.sleep(0.05)
    return got


async def stored_envelope(net: Network, hub_id: str, message_id: str) -> Envelope:
    """The envelope of a message in ``hub_id``'s inbox, as the hub hands it over."""
    row = net.hubs[hub_id].store._writer.run_sync(lambda conn: conn.execute(
        "SELECT jws FROM messages WHERE direction = 'in' AND id = ?", (message_id,)).fetchone())
    return Envelope.from_bytes(jws.parse(row[0]).payload)


class Conformance:
    """Subclass with a ``harness`` fixture returning a ``Harness``."""

    def test_messages_reach_the_other_local_system_exactly_once(self, harness: Harness,
                                                                tmp_path: Path) -> None:
        """Given aktau's local system emitting three statuses, baku's local system holds each
        exactly once, baku recorded each as handed over and aktau as delivered."""
        async def scenario() -> None:
            async with running(harness, tmp_path) as (net, log):
                for n in range(3):
                    await harness.emit(n)
                got = await wait_taken(harness, 3)
                assert sorted(m["body"]["note"] for m in got) == [f"update {n}" for n in range(3)]
                ids = [m["id"] for m in got]
                assert len(set(ids)) == 3
                await wait_until(lambda: set(log.ids(ev.HANDED_OVER)) == set(ids), 10,
                                 what="three hand-overs at baku")
                await net.wait_settled(SENDER, ids)
                assert all(m["from"] == SENDER and m["type"] == "shipment.status" for m in got)

        run(scenario())

    def test_stop_and_start_again_loses_and_repeats_nothing(self, harness: Harness,
                                                            tmp_path: Path) -> None:
        """Given a message through, both hubs stopped and started again, the next message
        goes through too and the first is not delivered again."""
        async def scenario() -> None:
            async with running(harness, tmp_path) as (net, _log):
                await harness.emit(0)
                [first] = await wait_taken(harness, 1)
                await net.wait_settled(SENDER, [first["id"]])
                await net.stop()
                await net.start()
                log = EventLog()
                net.hubs[RECEIVER].events.observers.append(log)
                await harness.emit(1)
                got = await wait_taken(harness, 2)
                await wait_until(lambda: len(log.ids(ev.HANDED_OVER)) == 1, 10)
                assert sorted(m["body"]["note"] for m in got) == ["update 0", "update 1"]
                assert log.ids(ev.HANDED_OVER) != [first["id"]]

        run(scenario())

    def test_transient_failure_is_retried_until_delivered_once(self, harness: Harness,
                                                               tmp_path: Path) -> None:
        """Given baku's local system failing for a while, the hub retries; once it is back
        the message is there exactly once, and the failures were counted."""
        async def scenario() -> None:
            async with running(harness, tmp_path) as (net, log):
                await harness.break_output()
                await harness.emit(0)
                await wait_until(lambda: errors(net, RECEIVER, harness.name, "output",
                                                "transient") >= 2, 15,
                                 what="two failed hand-overs")
                assert await harness.taken() == []
                await harness.heal_output()
                [got] = await wait_taken(harness, 1)
                await wait_until(lambda: log.ids(ev.HANDED_OVER) == [got["id"]], 10)
                assert len(await harness.taken()) == 1
                assert log.ids(ev.DEAD_LETTERED) == []

        run(scenario())

    def test_permanent_failure_is_dead_lettered_and_counted(self, harness: Harness,
                                                            tmp_path: Path) -> None:
        """Given baku's local system refusing for good, the message is dead-lettered at
        once, visible in its state and counted; after a repair the next one flows."""
        async def scenario() -> None:
            async with running(harness, tmp_path) as (net, log):
                await harness.refuse_output()
                await harness.emit(0)
                await wait_until(lambda: log.ids(ev.DEAD_LETTERED), 15, what="a dead letter")
                [dead] = log.ids(ev.DEAD_LETTERED)
                [record] = await net.hubs[RECEIVER].message(dead)
                assert record["state"] == "dead_lettered" and record["reason"]
                assert errors(net, RECEIVER, harness.name, "output", "permanent") == 1
                assert await harness.taken() == []
                await harness.heal_output()
                await harness.emit(1)
                [got] = await wait_taken(harness, 1)
                assert got["body"]["note"] == "update 1"

        run(scenario())

    def test_repeated_delivery_has_no_second_effect(self, harness: Harness,
                                                    tmp_path: Path) -> None:
        """Given a message handed over, the same message given to the adapter again (the hub
        crashed before recording the hand-over) leaves one copy at baku's local system."""
        async def scenario() -> None:
            async with running(harness, tmp_path) as (net, log):
                await harness.emit(0)
                [got] = await wait_taken(harness, 1)
                envelope = await stored_envelope(net, RECEIVER, got["id"])
                adapter = net.hubs[RECEIVER].adapters.adapters[harness.name]
                await adapter.deliver(envelope)
                await adapter.deliver(envelope)
                assert [m["id"] for m in await harness.taken()] == [got["id"]]

        run(scenario())


def check_sample(kind: str) -> None:
    """adapters/<kind>/sample.yaml is what the config model makes, and it validates."""
    import yaml

    from adapters.common.sample import render
    from hub.plugins import adapter_config

    path = Path(__file__).parents[2] / "adapters" / kind / "sample.yaml"
    assert path.read_text() == render(kind), \
        f"{path} is out of date: python -m adapters.common.sample {kind} > {path}"
    for settings in yaml.safe_load(path.read_text())["adapters"].values():
        adapter_config(settings)
