"""Chaos scenarios 1, 2 and 4 of the reliability promise (docs/reliability.md), each over AMQP
and over MQTT: traffic flows from aktau's hot folder to baku's while the injector breaks hubs
and links; the checker then accounts for every file, exactly once. Order (3) is checked in
test_order.py, the brokers' own faults (5, 6) in test_broker_faults.py."""

from __future__ import annotations

import itertools
import os
import random
import time

import pytest

from hub.failpoints import KILLED
from tests.chaos import faults
from tests.chaos.conftest import (HEARTBEAT, ChaosNet, assert_exactly_once, record,
                                  settle_timeout, sizes)
from tests.support.hubproc import HubProcess

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.mosquitto]


def test_sender_killed_again_and_again(net: ChaosNet) -> None:
    """1. Given a steady stream from aktau, when aktau is SIGKILLed every 0.5-3 s and started
    again: nothing lost or duplicated, every message receipted, aktau's outbox empty."""
    began = time.monotonic()
    net.start()
    total, kills = sizes(100, 10_000), sizes(3, 50)
    feeder = net.submit_in_background(total, per_second=sizes(30, 100))
    with faults.Injector({"kill aktau": faults.kill_hub(net.sender)}, (0.5, 3.0), kills) as chaos:
        feeder.join(total / 10)
        chaos.wait(kills * 20)
    report = net.wait_settled(settle_timeout(net))
    assert_exactly_once(report)
    assert net.sender.states("out") == {"delivered": total}, net.sender.states("out")
    assert len(chaos.done) == kills
    record("1 sender killed", net.transport, report, time.monotonic() - began, kills=kills)


def test_recipient_killed_also_between_commit_and_ack(net: ChaosNet) -> None:
    """2. Given a steady stream, when baku is SIGKILLed again and again -- half of the runs
    ending by a failpoint right after its inbox commit, before the broker ack and the receipt
    -- nothing is lost and nothing is handed to baku's adapter twice."""
    began = time.monotonic()
    net.start()
    total, kills = sizes(100, 10_000), sizes(3, 50)
    chance, runs = random.Random(2), itertools.count(1)

    def failpoint() -> str | None:  # every other run ends right after its n-th inbox commit
        return f"after_inbox_commit={chance.randint(1, 8)}" if next(runs) % 2 else None

    feeder = net.submit_in_background(total, per_second=sizes(30, 100))
    ended: list[int] = []
    kill = faults.kill_hub(net.recipient, failpoint, ended)
    with faults.Injector({"kill baku": kill}, (0.5, 3.0), kills) as chaos:
        feeder.join(total / 10)
        chaos.wait(kills * 20)
    restart_if_ended(net.recipient, ended)  # the last run may still be armed: run it plain
    report = net.wait_settled(settle_timeout(net),
                              keep_running=lambda: restart_if_ended(net.recipient, ended))
    assert_exactly_once(report)
    assert net.sender.states("out") == {"delivered": total}
    assert KILLED in ended, f"no run ended at the failpoint: {ended}"
    record("2 recipient killed", net.transport, report, time.monotonic() - began, kills=kills,
           failpoint_exits=ended.count(KILLED))


def restart_if_ended(hub: HubProcess, ended: list[int]) -> None:
    """Start ``hub`` again, unarmed, if a failpoint ended it; its status goes to ``ended``."""
    if not hub.running:
        ended.append(hub.wait_exit())
        hub.start()
        hub.wait_ready()
        hub.wait_http()


# The threads a hub may have: its event loop, its store's writer thread, a spare, and asyncio's
# default executor (filedrop's file work), which grows on demand up to min(32, CPUs + 4).
MAX_THREADS = 3 + min(32, (os.cpu_count() or 1) + 4)


def resources(hub: HubProcess) -> tuple[int, int]:
    """(open file descriptors, threads) of the hub's process."""
    pid = hub.proc.pid
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def test_flapping_links_keep_resources_stable(net: ChaosNet) -> None:
    """4. Given steady traffic, when both hubs' broker links flap (cut, refused, blackholed
    for a moment) every few seconds: nothing lost or duplicated, and the hubs' file
    descriptors after a second round of flapping are what they were after the first, and
    their threads stay within the bound (asyncio's default executor grows on demand)."""
    began = time.monotonic()
    net.start()
    total, flaps = sizes(120, 10_000), sizes(4, 30)
    flap = {}
    for name, proxy in net.proxies.items():
        flap[f"cut {name}"] = faults.cut(proxy)
        flap[f"refuse {name}"] = faults.refuse(proxy, 1.0)
        flap[f"blackhole {name}"] = faults.blackhole(proxy, sizes(1.0, 3.0))
    samples, applied = [], 0
    for round_ in range(2):
        feeder = net.submit_in_background(total // 2, per_second=sizes(30, 30))
        with faults.Injector(flap, sizes((0.5, 1.5), (5.0, 20.0)), flaps // 2,
                             seed=round_) as chaos:
            feeder.join(total / 5)
            chaos.wait(flaps * 30)
        applied += len(chaos.done)
        report = net.wait_settled(settle_timeout(net))
        assert_exactly_once(report)
        time.sleep(HEARTBEAT)  # connections closed by the last flap are reaped
        samples.append({name: resources(hub) for name, hub in net.hubs.items()})
    before, after = samples
    for name in net.hubs:
        (fds0, threads0), (fds1, threads1) = before[name], after[name]
        assert fds1 <= fds0 + 2, f"{name}: file descriptors {fds0} -> {fds1}"
        assert max(threads0, threads1) <= MAX_THREADS, f"{name}: threads {threads0} -> {threads1}"
    record("4 flapping", net.transport, report, time.monotonic() - began, flaps=applied,
           fds_threads_first_round=before, fds_threads_second_round=after)
