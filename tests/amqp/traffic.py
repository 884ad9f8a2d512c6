"""Streams of messages between hubs, and the one check every AMQP hub test ends with: each
message receipted at its sender and handed over exactly once at its recipient."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from hub.core import Hub
from tests.core.bodies import status
from tests.support.aio import wait_until
from tests.support.hubproc import store_query
from tests.support.network import FAST_RETRY, Network

SUBMIT_BATCH = 100  # submits awaited together, so their outbox commits are grouped
POLL = 0.1

# FAST_RETRY's 300 ms receipt timeout would resend most of a stream of thousands that is simply
# queued behind itself; resends are harmless (the inbox drops them) but waste the run's time.
RETRY = {**FAST_RETRY["retry"], "receipt_timeout": "5s", "maximum": "5s"}

Fault = Callable[[], Awaitable[None]]


@dataclass
class Stream:
    """Messages from ``sender`` to ``recipient``."""

    sender: str
    recipient: str
    ids: list[str] = field(default_factory=list)


async def exchange(net: Network, per_stream: int, timeout: float,
                   faults: Sequence[tuple[float, Fault]] = ()) -> list[Stream]:
    """Every running hub of ``net`` sends ``per_stream`` messages to every other, all at once;
    each ``(fraction, fault)`` is done once that fraction of all messages has been handed over.
    Returns when everything is receipted and handed over."""
    streams = [Stream(a, b) for a in net.hubs for b in net.hubs if a != b]
    total = per_stream * len(streams)

    async def send(s: Stream) -> None:
        s.ids = await submit(net.hubs[s.sender], s.recipient, per_stream)

    sending = asyncio.gather(*(send(s) for s in streams))
    try:
        for fraction, fault in faults:
            await wait_until(lambda: handed_over(net) >= fraction * total, timeout,
                             interval=POLL, what=f"{fraction:.0%} of {total} messages handed over")
            await fault()
    finally:
        await sending
    await wait_receipted(net, streams, timeout)
    await wait_handed_over(net, streams, timeout)
    return streams


def store_of(net: Network, hub_id: str) -> Path:
    return net.sandbox.root / hub_id / "data" / "hub.db"


async def submit(hub: Hub, to: str, count: int) -> list[str]:
    """Submit ``count`` shipment.status messages with distinct bodies; their ids."""
    ids: list[str] = []
    for start in range(0, count, SUBMIT_BATCH):
        stop = min(count, start + SUBMIT_BATCH)
        done = await asyncio.gather(*(hub.submit("shipment.status", status(i), to=to)
                                      for i in range(start, stop)))
        ids += [message_id for sub in done for message_id in sub.ids]
    return ids


def delivered_counts(db: Path) -> Counter:
    """Per peer, the outgoing messages of the store at ``db`` that are receipted."""
    return Counter(dict(store_query(
        db, "SELECT peer, COUNT(*) FROM messages WHERE direction = 'out'"
            " AND state = 'delivered' GROUP BY peer")))


async def wait_receipted(net: Network, streams: list[Stream], timeout: float) -> None:
    """Poll the senders' stores until every stream is receipted in full."""
    deadline = time.monotonic() + timeout
    while True:
        missing = {}
        for sender in {s.sender for s in streams}:
            counts = delivered_counts(store_of(net, sender))
            for s in streams:
                if s.sender == sender and counts[s.recipient] < len(s.ids):
                    missing[f"{s.sender}->{s.recipient}"] = len(s.ids) - counts[s.recipient]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not receipted after {timeout} s (stream: missing): {missing}")
        await asyncio.sleep(POLL)


async def wait_handed_over(net: Network, streams: list[Stream], timeout: float) -> None:
    """Wait until each recipient has handed over (at least) what was sent to it."""
    for recipient in {s.recipient for s in streams}:
        expected = sum(len(s.ids) for s in streams if s.recipient == recipient)
        await net.wait_delivered(recipient, expected, timeout)


def handed_over(net: Network) -> int:
    """How many messages all hubs of ``net`` have handed over so far (progress of a run)."""
    return sum(len(envelopes) for envelopes in net.delivered.values())


def assert_exactly_once(net: Network, streams: list[Stream]) -> None:
    """Every message receipted at its sender, in its recipient's inbox once, handed over once."""
    for s in streams:
        receipted = {i for (i,) in store_query(
            store_of(net, s.sender), "SELECT id FROM messages WHERE direction = 'out'"
            " AND peer = ? AND state = 'delivered'", s.recipient)}
        assert receipted == set(s.ids), f"{s.sender}->{s.recipient}: not all receipted"
        inbox = [i for (i,) in store_query(
            store_of(net, s.recipient), "SELECT id FROM messages WHERE direction = 'in'"
            " AND peer = ?", s.sender)]
        assert sorted(inbox) == sorted(s.ids), f"{s.sender}->{s.recipient}: inbox differs"
        handed = [e.id for e in net.delivered[s.recipient] if e.sender == s.sender]
        assert sorted(handed) == sorted(s.ids), f"{s.sender}->{s.recipient}: hand-over differs"
    for hub_id in net.delivered:
        assert net.duplicates(hub_id) == [], f"{hub_id} handed messages over twice"
