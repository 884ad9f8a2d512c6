"""Two ports for the chaos scenarios, as a sysadmin runs them: ``porthub run`` processes
aktau (the sender) and baku (the recipient), each with its own broker -- a RabbitMQ vhost or a
private Mosquitto -- reached through a fault-injecting TCP proxy, and a filedrop adapter.

Files dropped into aktau's hot folder carry a unique marker; the checker finds each in baku's
outbox folder exactly once, or failed with a reason. ``PORTHUB_CHAOS=long`` (``make chaos``)
selects the issue's full sizes; the default is the short version CI runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from hub.sandbox import build_sandbox
from tests.chaos.checker import Report, check
from tests.core.bodies import STATUS
from tests.support.hotfolders import add_filedrop, drop, start, wait_for
from tests.support.hubproc import HubProcess
from tests.support.mosquitto import Mosquitto, mosquitto_factory  # noqa: F401 - a fixture
from tests.support.rabbit import (PASSWORD, USER, broker_address, create_vhost, delete_vhost,
                                  rabbitmqctl, require_rabbitmq)
from tests.support.rabbitnode import RabbitNode, require_rabbitmq_server
from tests.support.tcpproxy import TcpProxy

LONG = os.environ.get("PORTHUB_CHAOS") == "long"
HUBS = ("aktau", "baku")
RETRY = {"receipt_timeout": "1s", "maximum": "3s", "reconnect_initial": "200ms",
         "reconnect_maximum": "1s", "handover_initial": "200ms", "write_timeout": "5s"}
HEARTBEAT = 2  # seconds: AMQP heartbeat and MQTT keepalive, so a silent link is noticed soon


def sizes(short: Any, long: Any) -> Any:
    """The figure for this run: the issue's (``PORTHUB_CHAOS=long``) or CI's."""
    return long if LONG else short


def settle_timeout(net: "ChaosNet") -> float:
    """How long a scenario waits for every message to be accounted for after its faults."""
    return sizes(90, 900) + len(net.submitted) / 20


def marker_body(marker: str) -> dict:
    return {**STATUS, "note": marker}


@dataclass
class ChaosNet:
    """The two hubs, their brokers and proxies, and what was submitted so far."""

    transport: str
    root: Path
    hubs: dict[str, HubProcess]
    proxies: dict[str, TcpProxy]
    brokers: dict[str, Mosquitto]  # MQTT only: each hub's private broker
    rabbit: RabbitNode | None = None  # AMQP with chaos_private_rabbit: the node of both hubs
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    submitted: dict[str, str] = field(default_factory=dict)  # marker -> file name
    order: dict[str, list[str]] = field(default_factory=dict)  # correlation id -> markers

    @property
    def sender(self) -> HubProcess:
        return self.hubs["aktau"]

    @property
    def recipient(self) -> HubProcess:
        return self.hubs["baku"]

    def start(self, *names: str) -> None:
        start(self.hubs, *(names or HUBS))

    def submit(self, count: int, per_second: float = 0.0, correlations: int = 5,
               to: str = "baku", correlation_id: str | None = None) -> None:
        """Drop ``count`` files into aktau's hot folder, ``per_second`` a second (0: at once),
        spread over ``correlations`` correlation ids (or all with ``correlation_id``)."""
        first = len(self.submitted)
        for n in range(first, first + count):
            marker, name = f"chaos-{self.run}-{n:06d}", f"m{n:06d}.json"
            correlation = correlation_id or f"CHAOS{self.run}{n % correlations}"
            drop(self.root, "aktau", name, {"type": "shipment.status", "to": to,
                                            "correlation_id": correlation,
                                            "body": marker_body(marker)})
            self.submitted[marker] = name
            self.order.setdefault(correlation, []).append(marker)
            if per_second:
                time.sleep(1 / per_second)

    def submit_in_background(self, count: int, per_second: float) -> threading.Thread:
        return self._background(self.submit, count, per_second)

    def answer(self, count: int, per_second: float) -> None:
        """Drop ``count`` files into baku's hot folder for aktau, ``per_second`` a second:
        traffic the other way, so that receipts and messages share each hub's inbox (the
        checker counts only aktau's messages)."""
        for n in range(count):
            drop(self.root, "baku", f"a{n:06d}.json", {
                "type": "shipment.status", "to": "aktau",
                "correlation_id": f"ANSWER{self.run}", "body": marker_body(f"answer-{n}")})
            time.sleep(1 / per_second)

    def answer_in_background(self, count: int, per_second: float) -> threading.Thread:
        return self._background(self.answer, count, per_second)

    @staticmethod
    def _background(feed: Callable[[int, float], None], count: int,
                    per_second: float) -> threading.Thread:
        thread = threading.Thread(target=feed, args=(count, per_second), daemon=True)
        thread.start()
        return thread

    def report(self, ignore: set[str] = frozenset()) -> Report:
        return check(self.submitted, outbox=self.root / "baku" / "files" / "out",
                     sender_inbox=self.root / "aktau" / "files" / "in",
                     sender_db=self.sender.db, recipient_db=self.recipient.db, ignore=ignore)

    def wait_settled(self, timeout: float, ignore: set[str] = frozenset(),
                     keep_running: Callable[[], None] = lambda: None) -> Report:
        """Wait until every submitted marker is accounted for and aktau's outbox holds nothing
        unreceipted; the final report. ``keep_running`` may restart a hub a failpoint ended."""
        def settled() -> bool:
            keep_running()
            states = self.sender.states("out")
            report = self.report(ignore)
            return (not report.lost and not states.get("queued") and not states.get("sent")
                    and sum(states.values()) >= len(self.submitted) - len(report.failed))
        try:
            wait_for(settled, timeout, "every message to be accounted for",
                     [h for h in self.hubs.values()])
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.report(ignore).explain()}\n"
                                 f"aktau outbox: {self.sender.states('out')}\n"
                                 f"{self.sender.log_tail()}\n{self.recipient.log_tail()}")
        return self.report(ignore)


def dead_letters(hub: HubProcess) -> list[dict]:
    """What ``porthub dlq list`` shows the hub's operator."""
    done = subprocess.run([sys.executable, "-m", "hub", "dlq", "list", "--json", "--limit",
                           "100000", "-c", str(hub.config_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_exactly_once(report: Report, failed: int = 0) -> None:
    """The pass criterion of every scenario: nothing lost, duplicated or unexpected, and
    exactly ``failed`` messages explicitly failed with a reason."""
    assert report.ok, report.explain()
    assert len(report.failed) == failed, report.explain()
    assert report.delivered + len(report.failed) == report.submitted, report.explain()


def record(name: str, transport: str, report: Report, seconds: float, **extra: Any) -> None:
    """Print the scenario's figures (``-s`` or the captured output shows them) and append them
    to ``PORTHUB_CHAOS_FIGURES`` when set, for docs/reliability.md."""
    figures = {"scenario": name, "transport": transport, "mode": "long" if LONG else "short",
               "seconds": round(seconds, 1), **report.__dict__, **extra}
    figures.update(failed=len(report.failed), lost=len(report.lost),
                   duplicated=sum(report.duplicated.values()), unexpected=len(report.unexpected))
    figures.pop("notes")
    print(json.dumps(figures))
    target = os.environ.get("PORTHUB_CHAOS_FIGURES")
    if target:
        with open(target, "a") as handle:
            handle.write(json.dumps(figures) + "\n")


@pytest.fixture
def chaos_extra() -> dict:
    """Configuration merged into both hubs' files; a scenario module overrides it."""
    return {}


@pytest.fixture
def chaos_filedrop() -> dict:
    """Settings merged into both hubs' filedrop adapter; a scenario module overrides it."""
    return {}


@pytest.fixture
def chaos_private_rabbit() -> bool:
    """True in a scenario module whose faults strike the broker itself: over AMQP its hubs
    then share a private RabbitMQ node (tests/support/rabbitnode.py) to kill and freeze,
    instead of a vhost of the machine's RabbitMQ, which other test runs use too."""
    return False


@pytest.fixture
def chaos_mosquitto() -> list[str]:
    """Lines added to each private Mosquitto's configuration; by default none: Mosquitto's own
    limits, whose silent drops the hubs must recover from. A scenario module overrides it."""
    return []


@pytest.fixture(params=["amqp", "mqtt"])
def net(request, tmp_path, mosquitto_factory, chaos_extra, chaos_filedrop,  # noqa: F811
        chaos_private_rabbit, chaos_mosquitto):
    """aktau and baku, not yet started, over ``amqp`` or ``mqtt``."""
    transport = request.param
    extra = {**chaos_extra, "retry": {**RETRY, **chaos_extra.get("retry", {})}}
    vhosts: dict[str, str] = {}
    brokers: dict[str, Mosquitto] = {}
    proxies: dict[str, TcpProxy] = {}
    rabbit: RabbitNode | None = None
    if transport == "amqp" and chaos_private_rabbit:
        require_rabbitmq_server()
        rabbit = RabbitNode(tmp_path / "rabbit").start()
        for hub in HUBS:  # one vhost for both, as on the shared broker below
            vhosts[hub] = "/"
            proxies[hub] = TcpProxy(rabbit.host, rabbit.amqp_port)
    elif transport == "amqp":
        require_rabbitmq()
        host, port = broker_address()
        vhost = create_vhost("porthub-chaos")  # one for both: each hub's queues have its name
        for hub in HUBS:
            vhosts[hub] = vhost
            proxies[hub] = TcpProxy(host, port)
    else:
        for hub in HUBS:
            brokers[hub] = mosquitto_factory(extra=chaos_mosquitto)
            proxies[hub] = TcpProxy(brokers[hub].host, brokers[hub].port)

    def inbox_for(hub_id: str) -> dict:
        proxy = proxies[hub_id]
        if transport == "mqtt":
            return {"kind": "mqtt", "host": proxy.host, "port": proxy.port,
                    "keepalive": HEARTBEAT}
        return {"kind": "amqp", "url": f"amqp://{USER}@{proxy.host}:{proxy.port}/",
                "password": {"value": PASSWORD}, "vhost": vhosts[hub_id],
                "heartbeat": HEARTBEAT, "connect_timeout": 3}

    sandbox = build_sandbox(tmp_path, list(HUBS), inbox_for, extra=extra)
    add_filedrop(sandbox, tmp_path, poll_interval=0.1, **chaos_filedrop)
    hubs = {hub_id: HubProcess(path) for hub_id, path in sandbox.config_paths.items()}
    network = ChaosNet(transport, tmp_path, hubs, proxies, brokers, rabbit)
    try:
        yield network
    finally:
        for hub in hubs.values():
            hub.__exit__(None, None, None)
        for proxy in proxies.values():
            proxy.close()
        if rabbit is not None:
            rabbit.stop()
        else:
            for vhost in set(vhosts.values()):
                try:
                    delete_vhost(vhost)
                except RuntimeError:  # another test may have stopped the broker's application
                    rabbitmqctl("await_startup", "--timeout", "60")
                    delete_vhost(vhost)
