"""Latency at fixed offered rates: hub to hub over AMQP and MQTT, submitting at a steady rate
by the clock, measured from submit to hand-over at the receiving port's local system.

    python -m bench.latency_bench [--rates 100,500] [--seconds 20] [--transport both|amqp|mqtt]

For each transport one hub pair (the receiving hub in a process of its own, default window
200) takes each rate in turn: the sender submits ``shipment.status`` messages at that rate for
that many seconds, each submit starting at its scheduled time (not held back by the window or
by earlier submits; a late one starts at once). The receiving hub notes ``time.time()`` as it
hands each message to its local system and sends the times back at the end; both processes
read the same clock. Latency is hand-over time minus submit time: one way, signed, verified and
committed at both ends, not waiting for the receipt.

*Sustained* means the hubs kept up with the offered rate: the messages were handed over at no
less than 95 % of it (count / first submit to last hand-over) and the submits kept to their
schedule (the last one less than a second late). The target to compare with: p99 at most 20 ms
at 100 msg/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.brokers import Broker, add_brokers, on_each
from bench.common import (HubPair, machine, markdown, ms, numbers, parse_args, percentile,
                          run_main)

KEEPING_UP = 0.95  # share of the offered rate that counts as sustained
LATE = 1.0  # seconds the last submit may fall behind its schedule and still count as sustained


async def _rates(broker: Broker, root: Path, args: argparse.Namespace) -> list[list[object]]:
    rows, total = [], 0
    async with HubPair(root, broker.inbox_for, args.window, args.processes,
                       cleanup=broker.cleanup) as pair:
        for rate in args.rates:
            paced = await pair.paced(rate, args.seconds)
            total += len(paced.submitted)  # the receiver's times are of all it handed over
            handed = await pair.handed_over(total, args.seconds * 10 + 60)
            latencies = [handed[i] - at for i, at in paced.submitted.items()]
            first = min(paced.submitted.values())
            delivered = len(latencies) / (max(handed[i] for i in paced.submitted) - first)
            sustained = delivered >= KEEPING_UP * rate and paced.late < LATE
            rows.append([broker.name, f"{rate:g}", len(latencies), f"{paced.achieved:.1f}",
                         f"{delivered:.1f}", "yes" if sustained else "no",
                         ms(percentile(latencies, 50)), ms(percentile(latencies, 99)),
                         ms(max(latencies))])
            print(f"{broker.name} {rate:g} msg/s: p99 {ms(percentile(latencies, 99))} ms",
                  file=sys.stderr)
    return rows


async def main(args: argparse.Namespace) -> str:
    versions, rows = await on_each(args, _rates)
    return "\n".join([
        f"{machine(*versions)}; `shipment.status` bodies, {args.seconds:g} s per rate, window "
        f"{args.window}", "",
        *markdown(["transport", "offered msg/s", "messages", "submitted msg/s",
                   "handed over msg/s", "sustained", "p50 ms", "p99 ms", "max ms"], rows),
        "", "latency: submit at the sending hub to hand-over at the receiving hub's local "
        "system (one way, no receipt); target p99 ≤ 20 ms at 100 msg/s"])


def _latency_args(argv: list[str] | None) -> argparse.Namespace:
    def extra(parser: argparse.ArgumentParser) -> None:
        add_brokers(parser)
        parser.add_argument("--rates", type=numbers, default=[100, 500],
                            help="offered rates, messages a second, comma-separated (100,500)")
        parser.add_argument("--seconds", type=float, default=20.0,
                            help="how long to submit at each rate (20)")

    args = parse_args(argv, "python -m bench.latency_bench", __doc__,
                      "the sending hub's retry.window (200, its default)", extra,
                      messages=None, rounds=None)
    if min(args.rates) < 1 or args.seconds <= 0:
        raise SystemExit("--rates and --seconds must be positive")
    return args


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _latency_args(argv))


if __name__ == "__main__":
    sys.exit(run())
