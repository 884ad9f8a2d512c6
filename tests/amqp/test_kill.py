"""Hub processes killed with SIGKILL mid-stream and started again: nothing lost, nothing twice.

The killed hub runs as a process of its own (tests/support/hubproc.py); its peer runs in the
test's process. What each hub holds is read from its store.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from hub.core import Hub
from tests.amqp.conftest import Ports
from tests.amqp.traffic import (RETRY, Stream, assert_exactly_once, delivered_counts, store_of,
                                submit, wait_receipted)
from tests.support.aio import run, wait_until
from tests.support.hubproc import HubProcess, store_query
from tests.support.network import Network
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.rabbitmq

KILL_RETRY = {**RETRY, "receipt_timeout": "2s", "maximum": "3s"}
COUNT = 200


def network(tmp_path, ports: Ports, **retry: object) -> Network:
    return Network(tmp_path, ["aktau", "baku"], inbox_for=ports.inbox_for(),
                   extra={"retry": {**KILL_RETRY, **retry}})


def audit(db, *events: str) -> list[tuple[int, str, str]]:
    """(seq, event, message id) of the audit entries of these kinds, in order."""
    marks = ", ".join("?" * len(events))
    return store_query(db, f"SELECT seq, event, message_id FROM audit WHERE event IN ({marks})"
                           " ORDER BY seq", *events)


def assert_inbox_once(baku: HubProcess, ids: list[str]) -> None:
    """baku's store holds each of ``ids`` once, received once, and refused nothing."""
    inbox = [i for (i,) in store_query(baku.db, "SELECT id FROM messages WHERE direction = 'in'")]
    assert sorted(inbox) == sorted(ids)
    received = Counter(i for _seq, _event, i in audit(baku.db, "received"))
    assert set(received) == set(ids) and set(received.values()) == {1}
    assert store_query(baku.db, "SELECT reason, COUNT(*) FROM rejections GROUP BY reason") == []


async def restart_and_settle(net: Network, baku: HubProcess, ids: list[str]) -> None:
    baku.start()
    await asyncio.to_thread(baku.wait_ready)
    await wait_receipted(net, [Stream("aktau", "baku", ids)], timeout=60)
    assert delivered_counts(store_of(net, "aktau"))["baku"] == len(ids)


def test_receiver_killed_after_inbox_commit_before_ack(tmp_path, ports: Ports) -> None:
    """Given baku armed to die right after its 50th inbox commit, before the broker ack and the
    receipt, when aktau sends 200 messages, baku dies there; started again, it gets the
    redelivered message, recognises it as a duplicate and answers it, and ends with exactly
    200 inbox rows, each received once; aktau ends with 200 delivered."""
    net = network(tmp_path, ports)

    with HubProcess(net.sandbox.config_paths["baku"]) as baku:
        baku.start(failpoints="after_inbox_commit=50")
        baku.wait_ready()

        async def scenario() -> None:
            await net.start("aktau")
            try:
                ids = await submit(net.hubs["aktau"], "baku", COUNT)
                assert await asyncio.to_thread(baku.wait_exit) == 137  # the failpoint's exit
                before = audit(baku.db, "received", "duplicate")
                _seq, _event, killed_on = before[49]  # the 50th commit: committed, never acked
                await restart_and_settle(net, baku, ids)
                again = [i for seq, _e, i in audit(baku.db, "duplicate") if seq > before[-1][0]]
                assert killed_on in again, "the redelivered message was not seen as a duplicate"
                assert set(again) <= set(ids)
            finally:
                await net.stop()
            assert_inbox_once(baku, ids)

        run(scenario(), timeout=90)
        assert baku.terminate() == 0, baku.log_tail()


def test_receiver_killed_at_a_random_point(tmp_path, ports: Ports) -> None:
    """Given aktau sending 1,000 messages, when baku is SIGKILLed once it holds a random
    number of them and started again, every message ends in baku's inbox exactly once and
    receipted at aktau. (With 200 the rest of the stream could all be receipted between the
    poll that saw the number and the kill.)"""
    count = 5 * COUNT
    net = network(tmp_path, ports)
    kill_at = random.randint(count // 5, count * 3 // 5)
    print(f"baku is killed once it holds {kill_at} messages")

    with HubProcess(net.sandbox.config_paths["baku"]) as baku:
        baku.start()
        baku.wait_ready()

        async def scenario() -> None:
            await net.start("aktau")
            try:
                ids = await submit(net.hubs["aktau"], "baku", count)
                await wait_until(lambda: sum(baku.states("in").values()) >= kill_at, 30,
                                 what=f"baku to hold {kill_at} messages")
                await asyncio.to_thread(baku.kill)
                assert delivered_counts(store_of(net, "aktau"))["baku"] < count, "killed too late"
                await restart_and_settle(net, baku, ids)
            finally:
                await net.stop()
            assert_inbox_once(baku, ids)

        run(scenario(), timeout=90)
        assert baku.terminate() == 0, baku.log_tail()


def test_sender_killed_mid_stream(tmp_path, ports: Ports, proxy: TcpProxy) -> None:
    """Given 400 messages in aktau's outbox and a window of 50, when aktau is SIGKILLed at a
    random point of the stream and started again, baku hands every message over exactly once
    and aktau ends with all 400 delivered."""
    count = 2 * COUNT
    net = network(tmp_path, ports, window=50)
    kill_at = random.randint(count // 5, count * 3 // 5)
    print(f"aktau is killed once baku has handed over {kill_at} messages")

    async def fill_outbox() -> list[str]:
        # Queue the stream while aktau cannot reach baku's broker (the proxy refuses it).
        config = net.sandbox.config("aktau")
        peer = config.peers["baku"]
        peer.transport = peer.transport.model_copy(
            update={"url": f"amqp://guest@{proxy.host}:{proxy.port}/"})
        proxy.reset_new(True)
        hub = Hub.from_config(config)
        await hub.start()
        try:
            return await submit(hub, "baku", count)
        finally:
            await hub.stop()

    with HubProcess(net.sandbox.config_paths["aktau"]) as aktau:

        async def scenario() -> None:
            ids = await fill_outbox()
            assert aktau.states("out") == Counter(queued=count)
            await net.start("baku")
            try:
                aktau.start()
                await asyncio.to_thread(aktau.wait_ready)
                await wait_until(lambda: len(net.delivered["baku"]) >= kill_at, 30,
                                 what=f"baku to hand over {kill_at} messages")
                await asyncio.to_thread(aktau.kill)
                assert aktau.states("out")["delivered"] < count, "killed too late"
                aktau.start()
                await asyncio.to_thread(aktau.wait_ready)
                stream = Stream("aktau", "baku", ids)
                await wait_receipted(net, [stream], timeout=60)
                await net.wait_delivered("baku", count)
                assert_exactly_once(net, [stream])
            finally:
                await net.stop()

        run(scenario(), timeout=90)
        assert aktau.terminate() == 0, aktau.log_tail()
