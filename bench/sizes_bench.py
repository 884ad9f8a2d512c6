"""Body sizes: hub to hub over AMQP and MQTT with bodies of about 1 KiB, 64 KiB and 1 MiB,
each beside the raw client with messages of the same wire size, in the same run.

    python -m bench.sizes_bench [--sizes 1024,65536,1048576] [--counts 2000,300,30]
                                [--transport both|amqp|mqtt] [--window W]

For each transport one hub pair (the receiving hub in a process of its own) runs every size
one after the other: the sender submits ``cargo.manifest`` messages with as many consignments
as make the body about that size (valid against hub/schemas), keeping at most W unreceipted;
time from the first submit to the last receipt. The hubs' ``limits.max_message_bytes`` is
4 MiB, so that a 1 MiB body, signed, fits. Then the raw client (bench.amqp_bench or
bench.mqtt_bench) sends as many messages as long as the signed ones (the length of the JWS the
sender stored and published), at most W unconfirmed (MQTT: at most the broker's Receive
Maximum). The table gives msg/s, MB/s of messages on the wire, the ratio hub / raw, and the
bytes on the wire per message against the body's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.brokers import Broker, add_brokers, on_each
from bench.common import (HubPair, Result, machine, markdown, ms, numbers, parse_args,
                          run_main)
from hub.identifiers import is_container_number

MANIFEST = "cargo.manifest"
MAX_MESSAGE_BYTES = 4 * 1_048_576


def container(serial: int) -> str:
    """The ``serial``-th ISO 6346 container number of owner CSP, with its check digit."""
    stem = f"CSPU{serial % 1_000_000:06d}"
    return next(stem + str(d) for d in range(10) if is_container_number(stem + str(d)))


def manifest(size: int) -> dict:
    """A ``cargo.manifest`` of one voyage whose JSON body is about ``size`` bytes: as many
    consignments as it takes, each of two containers with shipper and consignee."""
    body = {"vessel": {"imo": "9123453", "name": "CASPIAN STAR"}, "voyage": "0312E",
            "pol": "KZAAU", "pod": "AZBAK", "consignments": []}
    template = json.dumps(_consignment(0), separators=(",", ":"))
    count = max(1, round((size - len(json.dumps(body, separators=(",", ":")))) / (len(template)
                                                                                  + 1)))
    body["consignments"] = [_consignment(n) for n in range(count)]
    return body


def _consignment(n: int) -> dict:
    return {"bill_of_lading": f"AKTBAK25{n:05d}", "containers": [container(2 * n),
                                                                 container(2 * n + 1)],
            "goods": "Cotton yarn, combed, 40 bales per container", "hs_code": "520511",
            "gross_kg": 24310 + n % 1000, "packages": 40,
            "shipper": {"name": "Aktau Textile LLP", "code": "KZ-AKT-0042", "country": "KZ"},
            "consignee": {"name": "Baku Cotton Trading", "code": "AZ-BAK-0107",
                          "country": "AZ"}}


def body_bytes(body: dict) -> int:
    return len(json.dumps(body, separators=(",", ":")).encode())


def _label(size: int) -> str:
    return f"{size / 1_048_576:g} MiB" if size >= 1_048_576 else f"{size / 1024:g} KiB"


async def _sizes(broker: Broker, root: Path, args: argparse.Namespace) -> list[list[object]]:
    bodies = [manifest(size) for size in args.sizes]
    hubs: list[tuple[Result, int]] = []
    async with HubPair(root, broker.inbox_for, args.window, args.processes,
                       {"limits": {"max_message_bytes": MAX_MESSAGE_BYTES}},
                       cleanup=broker.cleanup) as pair:
        for body, count in zip(bodies, args.counts):
            hubs.append(await pair.windowed(count, args.window, body, MANIFEST))
            print(f"{broker.name} {body_bytes(body)} bytes: hub {hubs[-1][0].rate:.0f} msg/s",
                  file=sys.stderr)
    rows = []
    for size, body, count, (hub, wire) in zip(args.sizes, bodies, args.counts, hubs):
        raw = await broker.raw(count, args.window, wire, args.timeout)
        rows.append([broker.name, _label(size), body_bytes(body), wire,
                     f"{wire / body_bytes(body):.2f}", count, f"{hub.rate:.1f}",
                     f"{hub.rate * wire / 1e6:.2f}", f"{raw.rate:.0f}",
                     f"{raw.rate * wire / 1e6:.1f}", f"{hub.rate / raw.rate:.3f}",
                     ms(hub.percentile(50)), ms(hub.percentile(99)),
                     ms(raw.percentile(50)), getattr(raw, "lost", 0)])
    return rows


async def main(args: argparse.Namespace) -> str:
    versions, rows = await on_each(args, _sizes)
    return "\n".join([
        f"{machine(*versions)}; `cargo.manifest` bodies, window {args.window}",
        "", *markdown(["transport", "body", "body bytes", "wire bytes", "wire / body",
                       "messages", "hub msg/s", "hub MB/s", "raw msg/s", "raw MB/s",
                       "hub / raw", "hub p50 ms", "hub p99 ms", "raw p50 ms", "raw lost"],
                      rows),
        "", "wire bytes: the signed message (JWS) as published; MB/s: messages on the wire "
        "(raw messages are as long as the signed ones); hub latency: submit to receipt (there "
        "and back); raw latency: publish to consume (one way)"])


def _sizes_args(argv: list[str] | None) -> argparse.Namespace:
    def extra(parser: argparse.ArgumentParser) -> None:
        add_brokers(parser)
        parser.add_argument("--sizes", type=numbers, default=[1024, 65536, 1_048_576],
                            help="body sizes in bytes, comma-separated (1024,65536,1048576)")
        parser.add_argument("--counts", type=numbers, default=[2000, 300, 30],
                            help="messages of each size (2000,300,30)")

    args = parse_args(argv, "python -m bench.sizes_bench", __doc__,
                      "unreceipted (hub) or unconfirmed (raw) messages at once (200)", extra,
                      messages=None, rounds=None, timeout=1200.0)
    if len(args.sizes) != len(args.counts) or min(args.sizes + args.counts) < 1:
        raise SystemExit("--sizes and --counts need as many positive numbers each")
    return args


def run(argv: list[str] | None = None) -> int:
    return run_main(main, _sizes_args(argv))


if __name__ == "__main__":
    sys.exit(run())
