"""The benchmark suite: every part in turn, or one of them.

    python -m bench                  # the whole suite at full size (what `make bench` runs)
    python -m bench --quick          # every part at tiny sizes: it works, the figures mean nothing
    python -m bench PART [OPTIONS]   # one part, e.g. `python -m bench sizes --counts 200,30,3`

Each part prints a Markdown table headed by the machine, the software's versions and the date.
"""

from __future__ import annotations

import importlib
import sys
import time

# part: (module, title, options of the quick run)
PARTS: dict[str, tuple[str, str, list[str]]] = {
    "amqp": ("bench.amqp_bench", "AMQP: hub to hub beside raw pika",
             ["--messages", "40", "--rounds", "1"]),
    "mqtt": ("bench.mqtt_bench", "MQTT: hub to hub beside raw paho",
             ["--messages", "40", "--rounds", "1"]),
    "sizes": ("bench.sizes_bench", "Body sizes",
              ["--transport", "amqp", "--sizes", "1024,1048576", "--counts", "3,1"]),
    "latency": ("bench.latency_bench", "Latency at fixed offered rates",
                ["--transport", "mqtt", "--rates", "50", "--seconds", "1"]),
    "backlog": ("bench.backlog_bench", "Backlog drain",
                ["--transport", "amqp", "--messages", "100", "--steady", "40"]),
    "resources": ("bench.resources_bench", "Idle and loaded resource use",
                  ["--transport", "mqtt", "--settle", "0", "--idle", "1", "--rate", "20",
                   "--seconds", "1"]),
}


def run_part(part: str, argv: list[str]) -> int:
    module, title, _quick = PARTS[part]
    print(f"## {title}\n", flush=True)
    started = time.monotonic()
    status = importlib.import_module(module).run(argv)
    print(f"\n(`python -m bench {part}`: {time.monotonic() - started:.0f} s)\n", flush=True)
    return status


def main(argv: list[str]) -> int:
    if argv and argv[0] in PARTS:
        return run_part(argv[0], argv[1:])
    if argv not in ([], ["--quick"]):
        print(__doc__.strip(), f"\nparts: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    for part, (_module, _title, quick) in PARTS.items():
        if run_part(part, quick if argv else []):
            return 1
    print(f"The suite took {(time.monotonic() - started) / 60:.1f} minutes.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
