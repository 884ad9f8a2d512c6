"""Resource use of a hub: RSS and CPU of the real daemon (``porthub run``) idle and under a
steady load, over AMQP and MQTT.

    python -m bench.resources_bench [--idle 30] [--rate 100] [--seconds 30]
                                    [--transport both|amqp|mqtt]

For each transport a hub pair of a fresh sandbox: the receiving hub runs as the daemon,
``python -m hub run -c FILE`` (its HTTP listener and metrics included, no local system, so
what it receives stays in its inbox), and the sending hub in this process. Once both are
connected and have settled (``--settle``, 3 s), the benchmark reads the daemon's
/proc/<pid>/status (VmRSS, every second) and /proc/<pid>/stat (user + system CPU at the start
and end of each phase):

* *idle*: connected, nothing flowing, for ``--idle`` seconds (targets: RSS < 80 MB, CPU < 1 %);
* *loaded*: the sender submits ``shipment.status`` messages at ``--rate`` a second, paced by
  the clock, for ``--seconds``; the daemon verifies, commits and receipts each.

CPU % is CPU seconds over wall seconds (100 % is one core). The sending hub's figures are
given too; it shares this process with the benchmark (which paces the submits).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from bench.brokers import Broker, add_brokers, on_each
from bench.common import HubPair, Sampler, cpu_seconds, machine, markdown, parse_args, run_main

IDLE_RSS_MB, IDLE_CPU = 80, 1.0  # the targets of an idle hub


async def _phases(broker: Broker, root: Path, args: argparse.Namespace) -> list[list[object]]:
    rows = []
    async with HubPair(root, broker.inbox_for, args.window, daemon=True,
                       cleanup=broker.cleanup) as pair:
        await asyncio.sleep(args.settle)
        hubs = {"receiving (porthub run)": pair.receiver.pid,
                "sending (benchmark process)": os.getpid()}

        async def idle() -> int:
            await asyncio.sleep(args.idle)
            return 0

        async def loaded() -> int:
            return len((await pair.paced(args.rate, args.seconds)).submitted)

        for phase, body in (("idle", idle), (f"{args.rate:g} msg/s", loaded)):
            cpu = {name: cpu_seconds(pid) for name, pid in hubs.items()}
            started = time.monotonic()
            async with Sampler(hubs, every=1.0) as memory:
                messages = await body()
            elapsed = time.monotonic() - started
            for name, pid in hubs.items():
                rows.append([broker.name, name, phase, f"{elapsed:.1f}", messages,
                             memory.span(name),
                             f"{(cpu_seconds(pid) - cpu[name]) / elapsed * 100:.1f}"])
            print(f"{broker.name} {phase}: {rows[-2]}", file=sys.stderr)
    return rows


async def main(args: argparse.Namespace) -> str:
    versions, rows = await on_each(args, _phases)
    return "\n".join([
        f"{machine(*versions)}; window {args.window}", "",
        *markdown(["transport", "hub", "phase", "seconds", "messages", "RSS MB", "CPU %"], rows),
        "", f"RSS: min to max, sampled every second; CPU %: of one core over the phase; "
        f"targets for the idle daemon: RSS < {IDLE_RSS_MB} MB, CPU < {IDLE_CPU:g} %"])


def _resources_args(argv: list[str] | None) -> argparse.Namespace:
    def extra(parser: argparse.ArgumentParser) -> None:
        add_brokers(parser)
        parser.add_argument("--settle", type=float, default=3.0,
                            help="seconds to wait once both hubs are connected (3)")
        parser.add_argument("--idle", type=float, default=30.0,
                            help="seconds of the idle phase (30)")
        parser.add_argument("--rate", type=float, default=100.0,
                            help="messages a second of the loaded phase (100)")
        parser.add_argument("--seconds", type=float, default=30.0,
                            help="seconds of the loaded phase (30)")

    args = parse_args(argv, "python -m bench.resources_bench", __doc__,
                      "the sending hub's retry.window (200, its default)", extra,
                      messages=None, rounds=None)
    if min(args.idle, args.rate, args.seconds) <= 0:
        raise SystemExit("--idle, --rate and --seconds must be positive")
    return args


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _resources_args(argv))


if __name__ == "__main__":
    sys.exit(run())
