"""Network faults for hub-level tests: what to do to a fault proxy (tests/support/tcpproxy.py)
in the middle of a stream between hubs, the same schedule whatever the transport behind it.

A schedule is a list of ``(fraction, fault)``: the fault (a coroutine function) is done once
that fraction of the stream has been handed over (``exchange`` in tests/amqp/traffic.py).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from tests.support.tcpproxy import TcpProxy

Fault = Callable[[], Awaitable[None]]
KINDS = ("cut", "blackhole", "reset")


def proxy_faults(kind: str, proxy: TcpProxy, *, blackhole: float = 3.0,
                 refusing: float = 2.0) -> list[tuple[float, Fault]]:
    """The schedule of ``kind`` on ``proxy``:

    * ``cut``: every connection reset (RST, both ways) at 20 %, 45 % and 70 % of the stream;
    * ``blackhole``: from 30 %, nothing carried either way for ``blackhole`` seconds, the
      connections left open;
    * ``reset``: from 30 %, every connection reset and new ones refused for ``refusing``
      seconds.
    """

    async def cut() -> None:
        proxy.cut()

    async def silence() -> None:
        proxy.blackhole(True)
        await asyncio.sleep(blackhole)  # the length of the outage, not a wait for anything
        proxy.blackhole(False)

    async def refuse() -> None:
        proxy.reset_new(True)
        proxy.cut()
        await asyncio.sleep(refusing)  # the length of the outage
        proxy.reset_new(False)

    return {
        "cut": [(0.2, cut), (0.45, cut), (0.7, cut)],
        "blackhole": [(0.3, silence)],
        "reset": [(0.3, refuse)],
    }[kind]
