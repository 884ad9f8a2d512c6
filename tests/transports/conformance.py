"""The transport conformance suite: every transport passes the same tests.

A transport's test module does ``from tests.transports.conformance import *`` and defines a
``transport_env`` fixture returning an object with:

* ``inbox(hub_id) -> Inbox`` and ``outlet(peer_id, hub_id) -> Outlet`` (not yet connected),
* ``new_hub_id() -> str``: a hub id unique to this test run (so nothing left over from an
  earlier run on a shared broker can interfere),
* ``cut()``: break every live connection of this test abruptly (a proxy reset, a broker-side
  close), as a network fault would.

The transport level promises "at least once, nothing lost while a write was confirmed and a
read not acknowledged". Duplicates are allowed here (a publish retried after a lost confirm);
the hub's inbox deduplicates them, which the hub-level tests prove.
"""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import NotConnected, TransientError
from hub.transports.base import Inbox, Outlet
from tests.support.aio import run

__all__ = [
    "test_connect_and_close",
    "test_batch_arrives_complete_and_in_full",
    "test_unacknowledged_messages_come_back_after_close",
    "test_rejected_message_does_not_block_the_inbox",
    "test_connection_lost_mid_stream_loses_nothing",
    "test_an_encoding_travels_with_its_message",
]

READ_TIMEOUT = 10.0


async def _connect(component: Inbox | Outlet, attempts: int = 100) -> None:
    for _ in range(attempts):
        try:
            await component.connect()
            return
        except TransientError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"could not connect {component.describe()}")


async def _read_n(inbox: Inbox, n: int, ack: bool = True) -> list:
    got = []
    for _ in range(n):
        delivery = await asyncio.wait_for(inbox.read(), READ_TIMEOUT)
        if ack:
            await delivery.ack()
        got.append(delivery)
    return got


async def _assert_empty(inbox: Inbox, wait: float = 0.5) -> None:
    try:
        extra = await asyncio.wait_for(inbox.read(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected extra message: {extra.body[:80]!r}")


async def _one_message_crosses(inbox: Inbox, outlet: Outlet, body: bytes = b"one") -> None:
    """Connect both, write ``body`` with the outlet, read it with the inbox, close both."""
    await _connect(inbox)
    await _connect(outlet)
    await outlet.write(body, "one-1")
    [delivery] = await _read_n(inbox, 1)
    assert delivery.body == body
    await inbox.close()
    await outlet.close()


def test_connect_and_close(transport_env) -> None:
    """Given a fresh inbox and outlet, connecting and closing (twice) works without error."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        await _connect(inbox)
        await _connect(outlet)
        assert "password" not in inbox.describe() and "password" not in outlet.describe()
        await outlet.close()
        await inbox.close()
        await outlet.close()
        await inbox.close()

    run(scenario())


def test_batch_arrives_complete_and_in_full(transport_env) -> None:
    """Given 300 writes awaited concurrently, the inbox yields exactly those 300 bodies."""
    hub = transport_env.new_hub_id()
    bodies = [f"message-{i:04d}".encode() * 8 for i in range(300)]

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        await _connect(inbox)
        await _connect(outlet)
        sem = asyncio.Semaphore(outlet.max_in_flight)

        async def write(i: int, body: bytes) -> None:
            async with sem:
                await outlet.write(body, f"id-{i}")

        await asyncio.gather(*(write(i, b) for i, b in enumerate(bodies)))
        got = await _read_n(inbox, len(bodies))
        assert sorted(d.body for d in got) == sorted(bodies)
        await _assert_empty(inbox)
        await outlet.close()
        await inbox.close()

    run(scenario())


def test_unacknowledged_messages_come_back_after_close(transport_env) -> None:
    """Given 5 messages read but not acknowledged, closing the inbox returns them: a new
    inbox connection reads the same 5 again."""
    hub = transport_env.new_hub_id()
    bodies = [f"unacked-{i}".encode() for i in range(5)]

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        await _connect(inbox)
        await _connect(outlet)
        for i, body in enumerate(bodies):
            await outlet.write(body, f"id-{i}")
        first = await _read_n(inbox, 5, ack=False)
        assert sorted(d.body for d in first) == sorted(bodies)
        await inbox.close()
        inbox2 = transport_env.inbox(hub)
        await _connect(inbox2)
        again = await _read_n(inbox2, 5)
        assert sorted(d.body for d in again) == sorted(bodies)
        await _assert_empty(inbox2)
        await inbox2.close()
        await outlet.close()

    run(scenario())


def test_rejected_message_does_not_block_the_inbox(transport_env) -> None:
    """Given a poison message followed by good ones, rejecting it lets the good ones through
    and the poison one never comes back."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        await _connect(inbox)
        await _connect(outlet)
        await outlet.write(b"\x00poison", "poison")
        for i in range(3):
            await outlet.write(f"good-{i}".encode(), f"good-{i}")
        seen = []
        for _ in range(4):
            delivery = await asyncio.wait_for(inbox.read(), READ_TIMEOUT)
            if delivery.body.startswith(b"\x00"):
                await delivery.reject()
            else:
                await delivery.ack()
            seen.append(delivery.body)
        assert sorted(seen) == sorted([b"\x00poison", b"good-0", b"good-1", b"good-2"])
        await inbox.close()
        inbox2 = transport_env.inbox(hub)
        await _connect(inbox2)
        await _assert_empty(inbox2)
        await inbox2.close()
        await outlet.close()

    run(scenario())


def test_connection_lost_mid_stream_loses_nothing(transport_env) -> None:
    """Given a stream of 400 messages, when every connection is cut after 100 have been read,
    then after reconnecting every message written is read (duplicates are counted, not lost)."""
    hub = transport_env.new_hub_id()
    total = 400

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        await _connect(inbox)
        await _connect(outlet)
        received: list[bytes] = []
        cut_done = asyncio.Event()

        async def writer() -> None:
            for i in range(total):
                body = f"stream-{i:05d}".encode()
                for _attempt in range(200):
                    try:
                        await outlet.write(body, f"s-{i}")
                        break
                    except TransientError:
                        await outlet.close()
                        await asyncio.sleep(0.05)
                        try:
                            await outlet.connect()
                        except NotConnected:
                            pass
                else:
                    raise AssertionError(f"write {i} never succeeded")
                if i % 50 == 0:
                    await asyncio.sleep(0)  # let the reader interleave

        async def reader() -> None:
            nonlocal inbox
            while len(set(received)) < total:
                try:
                    delivery = await asyncio.wait_for(inbox.read(), READ_TIMEOUT)
                    await delivery.ack()
                except NotConnected:
                    await inbox.close()
                    inbox = transport_env.inbox(hub)
                    await _connect(inbox)
                    continue
                received.append(delivery.body)
                if len(received) == 100 and not cut_done.is_set():
                    transport_env.cut()
                    cut_done.set()

        await asyncio.gather(writer(), reader())
        expected = {f"stream-{i:05d}".encode() for i in range(total)}
        assert cut_done.is_set()
        assert expected - set(received) == set(), "messages lost"
        assert set(received) - expected == set(), "unexpected messages"
        await inbox.close()
        await outlet.close()

    run(scenario(), timeout=120)


def test_an_encoding_travels_with_its_message(transport_env) -> None:
    """Given a transport that can carry a content encoding, a message written with one and
    one written without arrive with theirs (hub/transports/encoding.py); a transport that
    cannot carry one declares none."""
    hub = transport_env.new_hub_id()

    async def scenario() -> None:
        inbox = transport_env.inbox(hub)
        outlet = transport_env.outlet(hub, transport_env.new_hub_id())
        if not outlet.encodings:
            return
        await _connect(inbox)
        await _connect(outlet)
        for encoding in outlet.encodings:
            await outlet.write(b"deflated, as it were", "enc-1", encoding=encoding)
            await outlet.write(b"as it is", "enc-2")
            first, second = await _read_n(inbox, 2)
            assert (first.body, first.encoding) == (b"deflated, as it were", encoding)
            assert (second.body, second.encoding) == (b"as it is", None)
        await outlet.close()
        await inbox.close()

    run(scenario())
