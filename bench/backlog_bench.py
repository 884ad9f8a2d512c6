"""Backlog drain: how fast a hub pair clears what piled up while the receiving hub was down,
against its steady-state throughput in the same run, and the memory of both hubs meanwhile.

    python -m bench.backlog_bench [--messages N] [--steady M] [--transport amqp|mqtt|both]

One hub pair (the receiving hub in a process of its own) first runs M ``shipment.status``
messages with the receiver up, at most W unreceipted, as bench.amqp_bench does: the steady
state. Then the receiving hub stops, the sender submits N messages, and the receiving hub
starts again; the drain is timed from its start (a new process) to the last of the N receipts
at the sender. Then the steady run once more: on a shared machine one short run may be twice
as fast as the next. The result is drain rate / the mean of the two steady rates (target: at
least 0.8), with the RSS of both hubs sampled every half second through the drain (target:
flat).

Where the backlog waits: a link keeps at most ``retry.window`` messages unreceipted. While the
peer is down the sender writes W messages to the peer's inbox on the broker and keeps the rest
queued in its own outbox, as a deployed hub does (the default window, 200); when the peer is
back it drains the W from the broker and the sender streams the rest as receipts free the
window. Raising the window to N would put the whole backlog on the broker instead (and over
MQTT lose what exceeds Mosquitto's ``max_queued_messages``); that is not how a hub runs, so
the benchmark measures the drain of the sender's outbox through the default window. The
receipt timeout is set far above the downtime so that no resend adds copies to the drain.
The sending hub shares this process with the benchmark, so its RSS includes the benchmark's
own small bookkeeping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from bench.brokers import Broker, add_brokers, on_each
from bench.common import HubPair, Sampler, machine, markdown, parse_args, run_main

SESSION_EXPIRY = 3600  # MQTT: the receiving hub's inbox session outlives its downtime
TARGET = 0.8
HANDED_OVER_TIMEOUT = 120.0


async def _backlog(broker: Broker, root: Path, args: argparse.Namespace
                   ) -> list[list[object]]:
    async with HubPair(root, broker.inbox_for, args.window, args.processes,
                       cleanup=broker.cleanup, keep_times=False) as pair:
        steady, _size = await pair.windowed(args.steady, args.window)
        print(f"{broker.name}: steady {steady.rate:.0f} msg/s", file=sys.stderr)
        await pair.receiver.stop()
        submitted = await pair.submit(args.messages)
        print(f"{broker.name}: {args.messages} submitted in {submitted:.1f} s", file=sys.stderr)
        receipts = pair.receipts(args.messages)
        async with Sampler({"sender": os.getpid()}) as memory:
            started = time.perf_counter()
            await pair.receiver.start()
            ready = time.perf_counter() - started
            memory.pids["receiver"] = pair.receiver.pid
            ended = await asyncio.wait_for(receipts.finished, args.timeout)
        pair.sender.events.observers.remove(receipts)
        # Every one handed over too (a receipt may come back before the hand-over is done).
        await pair.handed_over(args.messages, HANDED_OVER_TIMEOUT)
        after, _size = await pair.windowed(args.steady, args.window)
        print(f"{broker.name}: steady again {after.rate:.0f} msg/s", file=sys.stderr)
    drain = args.messages / (ended - started)
    steady_rate = (steady.rate + after.rate) / 2
    return [[broker.name, args.messages, args.window, f"{submitted:.1f}",
            f"{ready:.1f}", f"{ended - started:.1f}", f"{drain:.0f}",
            f"{args.messages / (ended - started - ready):.0f}",
            f"{steady.rate:.0f}, {after.rate:.0f}", f"{drain / steady_rate:.2f}",
            memory.span("sender"), memory.span("receiver")]]


async def main(args: argparse.Namespace) -> str:
    versions, rows = await on_each(args, _backlog, session_expiry=SESSION_EXPIRY)
    return "\n".join([
        f"{machine(*versions)}; `shipment.status` bodies; steady state: {args.steady} messages "
        "with the receiver up, before and after the backlog", "",
        *markdown(["transport", "backlog", "window", "submitted in s", "receiver start to "
                   "ready s", "drain s", "drain msg/s", "from ready msg/s",
                   "steady msg/s before, after", "drain / steady", "sender RSS MB",
                   "receiver RSS MB"], rows),
        "", "drain: from the receiving hub's start (a new process) to the last receipt at the "
        "sender (from ready: from the moment it was connected); drain / steady: against the "
        f"mean of the two steady runs, target ≥ {TARGET}; RSS min to max, sampled every 0.5 s "
        "through the drain"])


def _backlog_args(argv: list[str] | None) -> argparse.Namespace:
    def extra(parser: argparse.ArgumentParser) -> None:
        add_brokers(parser, default="amqp")
        parser.add_argument("--steady", type=int, default=2000,
                            help="messages of the steady-state run (2000)")

    args = parse_args(argv, "python -m bench.backlog_bench", __doc__,
                      "the sending hub's retry.window (200, its default)", extra,
                      messages=100_000, rounds=None, timeout=3600.0)
    if args.steady < 1:
        raise SystemExit("--steady must be at least 1")
    return args


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _backlog_args(argv))


if __name__ == "__main__":
    sys.exit(run())
