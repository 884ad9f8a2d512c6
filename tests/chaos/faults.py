"""The fault injector: breaks the network, the hubs and the brokers on a schedule, from a
thread of its own, while the test feeds traffic and the checker waits.

Every fault is a plain function that does its damage and undoes it before it returns (a
paused process is continued, a stopped broker started, a blackholed link healed), with the
undo in ``finally``. The injector runs faults at random intervals until it is stopped or its
deadline passes; every loop and wait here is bounded.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hub.failpoints import KILLED
from tests.support.hubproc import HubProcess
from tests.support.mosquitto import Mosquitto
from tests.support.rabbitnode import RabbitNode
from tests.support.tcpproxy import TcpProxy

Fault = Callable[[], None]
JOIN_TIMEOUT = 120.0  # the longest single fault (a broker restart) fits well within this


def for_a_while(begin: Callable[[], None], end: Callable[[], None], seconds: float) -> Fault:
    """``begin()``, ``seconds`` of it (the length of the fault), then ``end()`` however the
    wait went."""
    def fault() -> None:
        begin()
        try:
            time.sleep(seconds)
        finally:
            end()
    return fault


# -- the network between a hub and a broker --------------------------------------------------
def cut(proxy: TcpProxy) -> Fault:
    """Every connection through ``proxy`` reset at once."""
    return proxy.cut


def blackhole(proxy: TcpProxy, seconds: float) -> Fault:
    """Nothing carried either way for ``seconds``; connections stay open."""
    return for_a_while(lambda: proxy.blackhole(True), lambda: proxy.blackhole(False), seconds)


def refuse(proxy: TcpProxy, seconds: float) -> Fault:
    """Every connection reset and new ones refused for ``seconds``."""
    def begin() -> None:
        proxy.reset_new(True)
        proxy.cut()
    return for_a_while(begin, lambda: proxy.reset_new(False), seconds)


def slow(proxy: TcpProxy, delay: float, seconds: float) -> Fault:
    """Every chunk forwarded ``delay`` seconds late, for ``seconds``."""
    return for_a_while(lambda: proxy.delay(delay), lambda: proxy.delay(0.0), seconds)


# -- processes ---------------------------------------------------------------------------------
def pause(pid: Callable[[], int | None], seconds: float) -> Fault:
    """SIGSTOP the process ``pid()`` names for ``seconds``, then SIGCONT."""
    def fault() -> None:
        target = pid()
        if target is None:
            return
        os.kill(target, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(target, signal.SIGCONT)
    return fault


def hub_pid(hub: HubProcess) -> Callable[[], int | None]:
    return lambda: hub.proc.pid if hub.running else None


def broker_pid(broker: Mosquitto) -> Callable[[], int | None]:
    return lambda: broker.process.pid if broker.running else None


def kill_hub(hub: HubProcess, failpoints: Callable[[], str | None] = lambda: None,
             ended: list[int] | None = None) -> Fault:
    """SIGKILL the hub and start it again, armed with ``failpoints()`` for its next run. A hub
    a failpoint ended already is only started; its exit status is appended to ``ended``."""
    def fault() -> None:
        if hub.running:
            hub.kill()
        else:
            status = hub.wait_exit()
            if ended is not None:
                ended.append(status)
        armed = failpoints()
        hub.start(failpoints=armed)
        try:
            hub.wait_ready()
            hub.wait_http()  # this run is up (an MQTT hub's store exists from the last one)
        except AssertionError:
            # An armed run can reach its failpoint on the backlog before it is seen ready:
            # that is the fault doing its work. The next fault (or the test) finds it ended.
            if armed and not hub.running and hub.proc.returncode == KILLED:
                return
            raise
    return fault


def restart_mosquitto(broker: Mosquitto, down: float = 0.5) -> Fault:
    """SIGKILL the broker (it saves nothing) and start it again on the same port and
    persistence directory."""
    return for_a_while(broker.kill, broker.start, down)


def restart_rabbit_node(node: RabbitNode, down: float = 0.5) -> Fault:
    """SIGKILL the private RabbitMQ node (no clean shutdown) and boot it again on the same
    ports and data."""
    return for_a_while(node.kill, node.start, down)


def pause_rabbit_node(node: RabbitNode, seconds: float) -> Fault:
    """SIGSTOP every process of the private RabbitMQ node for ``seconds``, then SIGCONT: its
    sockets stay open and nothing answers."""
    return for_a_while(node.pause, node.resume, seconds)


# -- the schedule --------------------------------------------------------------------------------
@dataclass
class Injector:
    """Runs one of ``faults`` (name -> fault) every ``interval`` (min, max) seconds, at most
    ``count`` times, until ``stop()``. ``done`` lists (time, name) of every fault applied."""

    faults: dict[str, Fault]
    interval: tuple[float, float]
    count: int
    seed: int = 0
    done: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)
        self._random = random.Random(self.seed)

    def start(self) -> "Injector":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop scheduling and wait (bounded) for the fault in progress to be undone."""
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT)
        assert not self._thread.is_alive(), "a fault did not finish within the bound"
        assert not self.errors, f"faults failed: {self.errors}"

    def wait(self, timeout: float) -> None:
        """Wait until all ``count`` faults were applied (or ``timeout``), then stop."""
        self._thread.join(timeout)
        self.stop()

    def __enter__(self) -> "Injector":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        names = sorted(self.faults)
        for _ in range(self.count):
            if self._stop.wait(self._random.uniform(*self.interval)):
                return
            name = self._random.choice(names)
            try:
                self.faults[name]()
            except Exception as exc:  # noqa: BLE001 - reported by stop()
                self.errors.append(f"{name}: {exc}")
                return
            self.done.append((time.monotonic(), name))
