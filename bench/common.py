"""What every benchmark shares: the hub pair and its measurements, results, tables, options,
the machine's description and readings of a process's memory and CPU from /proc.

A ``HubPair`` is two hubs of a sandbox network (hub.sandbox) with their inboxes on a real
broker: the sending hub in this process, the receiving one in a process of its own (as at a
real port; ``processes=1`` puts it in this one) that records when it hands each message over
to its local system. Its phases (``windowed``, ``paced``, ``submit``) are the measurements
the benchmarks are made of; the receiver can be stopped and started again between them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Awaitable, Callable, Sequence

from hub import events as ev
from hub import heap
from hub.config import load_config
from hub.core import Hub
from hub.envelope import Envelope
from hub.sandbox import build_sandbox

STATUS = "shipment.status"
BODY = {"container": "CSPU1234567", "bill_of_lading": "AKTBAK250001", "status": "loaded",
        "location": "KZAAU", "at": "2025-03-12T08:15:00Z"}
READY_TIMEOUT = 60.0  # a hub to start and connect
ASK_TIMEOUT = 30.0  # the receiving hub's process to answer a question
STOP_TIMEOUT = 30.0
LIFETIME = 4 * 3600.0  # the receiving hub's process gives up after this, or an hour of silence
POLL = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# No resend may muddy the figures: the receipt timeout is far above any round trip here.
NO_RESENDS = {"receipt_timeout": "3600s", "maximum": "3600s"}


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies: list[float]  # seconds, one per message
    cpu: float = 0.0  # CPU seconds the clients used (both hubs' processes; the raw client's)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_per_message(self) -> float:
        return self.cpu / self.messages

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL)


# -- a process's memory and CPU ----------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time ``pid`` has used (/proc/<pid>/stat, fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Sampler:
    """Samples the RSS of some processes every ``every`` seconds while it runs (a task);
    ``pids`` may take more while it does."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        self.pids = pids
        self.every = every
        self.rss: dict[str, list[float]] = {name: [] for name in pids}
        self._task: asyncio.Task | None = None

    def sample(self) -> None:
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):  # a process that has just ended
                self.rss.setdefault(name, []).append(rss_mb(pid))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> "Sampler":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()

    def span(self, name: str) -> str:
        values = self.rss.get(name)
        return f"{min(values):.0f} to {max(values):.0f}" if values else "?"


# -- the receiving hub -------------------------------------------------------------------------

class _Handovers:
    """The receiving port's local system: takes everything at once, counts, and notes when
    (``keep_times``; without, nothing grows with the messages: 100,000 noted times are 15 MB
    of the receiving process's memory, which the backlog part measures)."""

    def __init__(self, keep_times: bool = True) -> None:
        self.count = 0
        self.keep_times = keep_times
        self.times: dict[str, float] = {}

    async def take(self, envelope: Envelope) -> None:
        self.count += 1
        if self.keep_times:
            self.times[envelope.id] = time.time()


def _connected(hub: Hub) -> bool:
    return hub.intake is not None and hub.intake.connected \
        and all(link.up for link in hub.links.values())


async def _serve(config_path: Path, conn: Any, keep_times: bool) -> None:
    """Run the receiving hub and answer the benchmark's questions until told to stop."""
    hub = Hub.from_config(load_config(config_path))
    handovers = _Handovers(keep_times)
    hub.local_delivery = handovers.take
    await hub.start()
    heap.settle()  # as `porthub run` does
    try:
        await until(lambda: _connected(hub), READY_TIMEOUT, "the receiving hub to connect")
        conn.send("ready")
        deadline = time.monotonic() + LIFETIME
        while time.monotonic() < deadline and await asyncio.to_thread(conn.poll, 3600):
            question = conn.recv()
            if question == "stop":
                break
            conn.send({"cpu": time.process_time, "count": lambda: handovers.count,
                       "times": lambda: handovers.times}[question]())
    finally:
        await hub.stop()


def _receiver_process(config_path: Path, conn: Any, keep_times: bool) -> None:
    asyncio.run(_serve(config_path, conn, keep_times))


class Receiver:
    """The receiving hub in a process of its own, as at a real port; ``start`` and ``stop``
    may be called again and again (the same configuration and store each time)."""

    def __init__(self, config_path: Path, keep_times: bool = True) -> None:
        self.config_path = config_path
        self.keep_times = keep_times
        self.process: multiprocessing.Process | None = None
        self._conn: Any = None
        self.pid = 0

    async def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_receiver_process, name="porthub-bench-receiver",
                                       args=(self.config_path, child, self.keep_times))
        self.process.start()
        child.close()
        self.pid = self.process.pid
        if await self._answer(READY_TIMEOUT) != "ready":
            raise RuntimeError("the receiving hub's process did not get ready")

    async def _answer(self, timeout: float) -> Any:
        if not await asyncio.to_thread(self._conn.poll, timeout):
            await self.stop()
            raise RuntimeError(f"the receiving hub's process did not answer within {timeout} s")
        return self._conn.recv()

    async def ask(self, question: str) -> Any:
        """``cpu`` (its CPU seconds), ``count`` (messages handed over), ``times`` (message id:
        time.time() of its hand-over, for all it handed over since it started)."""
        self._conn.send(question)
        return await self._answer(ASK_TIMEOUT)

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        await asyncio.to_thread(self.process.join, STOP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join, STOP_TIMEOUT)
        self._conn.close()
        self.process = None


class InlineReceiver:
    """The receiving hub in this process (``processes=1``): its CPU is counted with the
    sender's, so ``cpu`` is 0 here."""

    def __init__(self, config_path: Path, keep_times: bool = True) -> None:
        self.config_path = config_path
        self.hub: Hub | None = None
        self.handovers = _Handovers(keep_times)
        self.pid = os.getpid()

    async def start(self) -> None:
        self.hub = Hub.from_config(load_config(self.config_path))
        self.hub.local_delivery = self.handovers.take
        await self.hub.start()
        await until(lambda: _connected(self.hub), READY_TIMEOUT, "the receiving hub to connect")

    async def ask(self, question: str) -> Any:
        return {"cpu": 0.0, "count": self.handovers.count,
                "times": self.handovers.times}[question]

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
            self.hub = None


class Daemon:
    """The receiving hub as the real daemon, ``python -m hub run -c FILE``, with no local
    system configured (what it receives stays in its inbox); its stdout and stderr go to files
    beside its store. It does not answer questions: read its /proc figures."""

    def __init__(self, config_path: Path, peers: Sequence[str]) -> None:
        self.config_path = config_path
        self.peers = peers
        self.proc: subprocess.Popen | None = None
        self.pid = 0
        self._files: list[IO] = []

    async def start(self) -> None:
        folder = self.config_path.parent
        out, err = open(folder / "run.out", "wb"), open(folder / "run.err", "wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "-c", str(self.config_path)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        wanted = {"inbox connected"} | {f"link to {peer} up" for peer in self.peers}

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"porthub run exited ({self.proc.returncode}): "
                                   f"{(folder / 'run.err').read_text(errors='replace')[-2000:]}")
            return wanted <= self._logged()

        await until(ready, READY_TIMEOUT, "porthub run to connect")

    def _logged(self) -> set[str]:
        messages = set()
        for line in (self.config_path.parent / "run.out").read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                messages.add(json.loads(line).get("msg", ""))
        return messages

    async def ask(self, question: str) -> Any:
        if question == "cpu":
            return cpu_seconds(self.pid)
        raise RuntimeError(f"porthub run cannot tell its {question}")

    async def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, STOP_TIMEOUT)
        for f in self._files:
            f.close()
        self.proc = None


RECEIVERS = {2: Receiver, 1: InlineReceiver}


# -- the pair ----------------------------------------------------------------------------------

class _Receipts:
    """Counts receipts at the sending hub; frees a place in the window for each."""

    def __init__(self, messages: int, window: int | None = None) -> None:
        self.messages = messages
        self.slots = asyncio.Semaphore(window or 1)
        self.latencies: list[float] = []
        self.finished = asyncio.get_running_loop().create_future()

    def on_event(self, event: ev.Event) -> None:
        if event.kind == ev.DELIVERED:
            self.latencies.append(event.detail["latency"])
            self.slots.release()
            if len(self.latencies) == self.messages and not self.finished.done():
                self.finished.set_result(time.perf_counter())


@dataclass
class Paced:
    """What a paced phase did: when each message was submitted (time.time(), by id)."""

    rate: float
    submitted: dict[str, float]
    seconds: float  # first submit to last submit
    late: float  # how far the last submit fell behind its scheduled time

    @property
    def achieved(self) -> float:
        return (len(self.submitted) - 1) / self.seconds if self.seconds else 0.0


class HubPair:
    """Two hubs of a fresh sandbox network under ``root``: ``sender`` here, the receiver in a
    process of its own (``processes=2``), in this one (``1``) or as ``porthub run``
    (``daemon=True``). ``config`` is merged into both configurations (limits, retry);
    ``cleanup(ids)`` deletes what the hubs declared on the broker once they have stopped;
    ``keep_times=False``: the receiver counts its hand-overs without noting their times."""

    def __init__(self, root: Path, inbox_for: Callable[[str], dict[str, Any]], window: int,
                 processes: int = 2, config: dict[str, Any] | None = None,
                 daemon: bool = False,
                 cleanup: Callable[[list[str]], Awaitable[None]] | None = None,
                 keep_times: bool = True) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ids = [f"aktau-{tag}", f"baku-{tag}"]
        extra = {"retry": {"window": window, **NO_RESENDS}, **(config or {})}
        self.sandbox = build_sandbox(root, self.ids, inbox_for, extra=extra)
        self.sender = Hub.from_config(self.sandbox.config(self.ids[0]))
        path = self.sandbox.config_paths[self.ids[1]]
        self.receiver = Daemon(path, [self.ids[0]]) if daemon \
            else RECEIVERS[processes](path, keep_times)
        self.db = self.sender.config.hub.data_dir / "hub.db"
        self.cleanup = cleanup
        self._heap: tuple[int, int, int] | None = None

    async def __aenter__(self) -> "HubPair":
        await self.receiver.start()
        try:
            await self.sender.start()
            await self.connected()
            self._heap = heap.settle()  # as `porthub run` does
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._heap is not None:
            heap.unsettle(self._heap)
            self._heap = None
        try:
            await self.sender.stop()
        finally:
            await self.receiver.stop()
            if self.cleanup is not None:  # what the hubs declared on the broker, even on failure
                await self.cleanup(self.ids)

    async def connected(self) -> None:
        await until(lambda: _connected(self.sender), READY_TIMEOUT, "the sending hub to connect")

    def wire_bytes(self, message_id: str) -> int:
        """The signed message's length as the sender stored and published it."""
        with closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as conn:
            [(size,)] = conn.execute("SELECT length(jws) FROM messages WHERE id = ?",
                                     (message_id,)).fetchall()
        return size

    def _submit(self, body: dict, type: str, ids: list[str] | None = None) -> asyncio.Task:
        # Not awaited one by one: concurrent submits share their outbox commits, as submits
        # from several adapters would.
        task = asyncio.create_task(self.sender.submit(type, body, to=self.ids[1]))
        if ids is not None:
            task.add_done_callback(lambda done: ids.extend(done.result().ids))
        return task

    async def windowed(self, messages: int, window: int, body: dict = BODY, type: str = STATUS,
                       name: str = "porthub hub") -> tuple[Result, int]:
        """Submit ``messages`` keeping at most ``window`` unreceipted; time first submit to
        last receipt. Returns the result and one message's bytes on the wire."""
        receipts = _Receipts(messages, window)
        self.sender.events.observers.append(receipts)
        ids: list[str] = []
        tasks = []
        try:
            cpu = await self.receiver.ask("cpu"), time.process_time()
            started = time.perf_counter()
            for _ in range(messages):
                await receipts.slots.acquire()
                tasks.append(self._submit(body, type, ids))
            ended = await receipts.finished
            used = time.process_time() - cpu[1] + await self.receiver.ask("cpu") - cpu[0]
        finally:
            self.sender.events.observers.remove(receipts)
        await asyncio.gather(*tasks)
        result = Result(name, messages, ended - started, receipts.latencies, used)
        return result, self.wire_bytes(ids[0])

    async def paced(self, rate: float, seconds: float, body: dict = BODY,
                    type: str = STATUS) -> Paced:
        """Submit at ``rate`` a second by the clock (not held back by any window) for
        ``seconds``; each submit starts at its scheduled time, or at once if late."""
        count = max(1, round(rate * seconds))
        submitted: dict[str, float] = {}
        tasks = []
        t0 = time.monotonic()
        first = last = time.time()
        for n in range(count):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            last = time.time()
            if n == 0:
                first = last
            task = self._submit(body, type)
            task.add_done_callback(
                lambda done, at=last: submitted.update(dict.fromkeys(done.result().ids, at)))
            tasks.append(task)
        late = time.monotonic() - (t0 + (count - 1) / rate)
        await asyncio.gather(*tasks)
        return Paced(rate, submitted, last - first, late)

    async def submit(self, messages: int, batch: int = 200, body: dict = BODY,
                     type: str = STATUS) -> float:
        """Submit ``messages``, ``batch`` at a time; the seconds it took."""
        started = time.perf_counter()
        for first in range(0, messages, batch):
            await asyncio.gather(*(self._submit(body, type)
                                   for _ in range(min(batch, messages - first))))
        return time.perf_counter() - started

    def receipts(self, messages: int) -> _Receipts:
        """An observer of the next ``messages`` receipts at the sender (remove it after)."""
        receipts = _Receipts(messages)
        self.sender.events.observers.append(receipts)
        return receipts

    async def handed_over(self, messages: int, timeout: float) -> dict[str, float]:
        """Wait until the receiver has handed ``messages`` over; when it handed each over."""
        deadline = time.monotonic() + timeout
        while await self.receiver.ask("count") < messages:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the receiver handed over fewer than {messages} messages "
                                   f"within {timeout} s")
            await asyncio.sleep(0.2)
        return await self.receiver.ask("times")


@dataclass
class HubRun:
    result: Result
    hub_ids: list[str]  # unique to the run: what the hubs declared on the broker is named so
    message_bytes: int  # one signed message as published


async def hub_round(root: Path, inbox_for: Callable[[str], dict[str, Any]], messages: int,
                    window: int, processes: int = 2,
                    cleanup: Callable[[list[str]], Awaitable[None]] | None = None) -> HubRun:
    """One hub-to-hub run on whatever transport ``inbox_for`` gives the hubs' inboxes: the
    receiving hub in a process of its own (``processes=2``, as deployed) or beside the
    sender in this one (``processes=1``); ``cleanup`` as for ``HubPair``."""
    async with HubPair(root, inbox_for, window, processes, cleanup=cleanup) as pair:
        result, size = await pair.windowed(messages, window)
    return HubRun(result, pair.ids, size)


# -- output ------------------------------------------------------------------------------------

def row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [row(columns), row(["---"] * len(columns))] + [row(r) for r in rows]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(rounds: list[tuple[Result, Any]], header: str, baseline: str, raw_latency: str,
          lost: bool = False) -> str:
    """The Markdown table of ``(hub, raw)`` round pairs and the median ratio, for every
    benchmark: ``baseline`` names the raw client, ``raw_latency`` what its latency spans,
    ``lost`` adds a column of messages the raw run never saw."""
    columns = ["round", "run", "messages", "seconds", "msg/s", "latency p50 ms",
               "latency p99 ms", "CPU µs/msg"] + (["lost"] if lost else [])
    lines = [header, ""] + markdown(columns, [
        [n, result.name, result.messages, f"{result.seconds:.2f}", f"{result.rate:.0f}",
         ms(result.percentile(50)), ms(result.percentile(99)),
         f"{result.cpu_per_message * 1e6:.0f}"] + ([getattr(result, "lost", 0)] if lost else [])
        for n, pair in enumerate(rounds, 1) for result in pair])
    ratios = [hub.rate / raw.rate for hub, raw in rounds]
    hub_p50 = statistics.median(hub.percentile(50) for hub, _raw in rounds)
    hub_p99 = statistics.median(hub.percentile(99) for hub, _raw in rounds)
    lines += ["", f"hub throughput / {baseline} throughput: {statistics.median(ratios):.3f} "
              f"(median of {len(ratios)}; each round: "
              f"{', '.join(f'{r:.3f}' for r in ratios)})",
              f"client CPU per message, hub / {baseline}: " + ", ".join(
                  f"{hub.cpu_per_message / raw.cpu_per_message:.1f}" for hub, raw in rounds)
              + " (CPU of both hubs' processes / of the raw client; the broker's is not counted)",
              f"hub latency, submit to receipt: p50 {hub_p50 * 1000:.0f} ms, "
              f"p99 {hub_p99 * 1000:.0f} ms (median over rounds)",
              f"raw latency is {raw_latency} (one way); hub latency is submit to receipt "
              "(there and back, signed, verified and committed at both ends)"]
    return "\n".join(lines)


def machine(*brokers: str) -> str:
    """The machine and the software a table was measured with, and when."""
    import paho.mqtt
    import pika

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = [datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             f"{os.cpu_count()} cores (load average {load} at the end)",
             f"Python {platform.python_version()}", f"pika {pika.__version__}",
             f"paho-mqtt {paho.mqtt.__version__}"]
    return "; ".join(parts + list(brokers))


# -- options -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None, prog: str, doc: str, window_help: str,
               extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
               messages: int | None = 2000, rounds: int | None = 3, window: int = 200,
               timeout: float = 600.0) -> argparse.Namespace:
    """The options every benchmark takes; ``extra`` adds a benchmark's own; ``messages`` or
    ``rounds`` None leaves that option out."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    if messages is not None:
        parser.add_argument("--messages", type=int, default=messages,
                            help=f"messages per run ({messages})")
    parser.add_argument("--window", type=int, default=window, help=window_help)
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds,
                            help=f"hub + raw pairs to run ({rounds})")
    parser.add_argument("--processes", type=int, choices=(1, 2), default=2,
                        help="2: the receiving hub in a process of its own, as deployed (the "
                             "default); 1: both hubs in this process")
    extra(parser)
    parser.add_argument("--data-dir", default=None,
                        help="where the hubs' stores go (a temporary folder under $TMPDIR)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"give up after this many seconds ({timeout:g})")
    args = parser.parse_args(argv)
    if min(getattr(args, "messages", 1), args.window, getattr(args, "rounds", 1)) < 1:
        parser.error("--messages, --window and --rounds must be at least 1")
    return args


def numbers(text: str) -> list[int]:
    """A comma-separated list of whole numbers (an option's value)."""
    return [int(part) for part in text.split(",")]


def host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or default_host, int(port)


def run_main(main: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Run a benchmark's ``main(args)`` within ``--timeout`` and print its Markdown."""
    print(asyncio.run(asyncio.wait_for(main(args), args.timeout)))
    return 0
