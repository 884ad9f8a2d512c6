"""The hub's one HTTP listener (loopback by default): metrics, health, readiness, status.

* ``/metrics``: Prometheus text format (outbox gauges refreshed from the store first).
* ``/healthz``: 200 while the process and its event loop answer.
* ``/readyz``: 200 when the store takes a write and the inbox transport is connected; 503
  with the reasons otherwise.
* ``/api/v1/status``: the hub, its inbox and every peer link, as JSON.
* ``/api/v1/messages/{id}``: one message's records and history, as JSON.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)
READY_TIMEOUT = 5.0


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"listen must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


class HttpListener:
    def __init__(self, hub: "Hub", listen: str) -> None:
        self.hub = hub
        self.host, self.port = parse_listen(listen)
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.add_routes([
            web.get("/metrics", self.metrics),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/api/v1/status", self.status),
            web.get("/api/v1/messages/{id}", self.message),
        ])
        self.app = app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []  # the real port when 0 was asked
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("HTTP listener on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def metrics(self, request: web.Request) -> web.Response:
        await self.hub.refresh_gauges()
        body = generate_latest(self.hub.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(self, request: web.Request) -> web.Response:
        problems = []
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.hub.store.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with why
            problems.append(f"store not writable: {exc or type(exc).__name__}")
        status = self.hub.status()
        if not status["inbox"]["connected"]:
            problems.append(f"inbox not connected: {status['inbox']['last_error'] or 'connecting'}")
        return web.json_response({"ready": not problems, "problems": problems},
                                 status=503 if problems else 200)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(await self.hub.full_status())

    async def message(self, request: web.Request) -> web.Response:
        records = await self.hub.message(request.match_info["id"])
        if not records:
            return web.json_response({"error": "no such message"}, status=404)
        return web.json_response({"id": request.match_info["id"], "records": records})
