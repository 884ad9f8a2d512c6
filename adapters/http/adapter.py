"""The http adapter: a local REST API in, webhook delivery out."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from hub.adapter import Adapter, HubHandle
from hub.envelope import Envelope
from hub.errors import TransientError

from .api import Api, server_ssl_context
from .config import HttpConfig, listen_address
from .webhook import Webhook

log = logging.getLogger(__name__)


class HttpAdapter(Adapter):
    config_model = HttpConfig
    config: HttpConfig

    def __init__(self, name: str, config: HttpConfig, hub: HubHandle) -> None:
        super().__init__(name, config, hub)
        self.api = Api(name, config, hub) if config.listen else None
        self._ssl = server_ssl_context(config.tls) if config.tls else None
        self.webhook = Webhook(config.webhook, config.encoder()) if config.webhook else None
        self.address: tuple[str, int] | None = None  # where the API listens, once it does

    async def run(self) -> None:
        if self.api is None:
            return
        host, port = listen_address(self.config.listen)
        runner = web.AppRunner(self.api.app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=self._ssl,
                               reuse_address=True)
            try:
                await site.start()
            except OSError as exc:  # address in use: another process may be leaving
                raise TransientError(f"http {self.name}: cannot listen on "
                                     f"{self.config.listen}: {exc.strerror or exc}") from None
            self.address = runner.addresses[0][:2]
            log.info("http %s: API listening on %s:%d", self.name, *self.address)
            await asyncio.Event().wait()  # serve until the hub stops (cancels) us
        finally:
            self.address = None
            await runner.cleanup()

    async def deliver(self, envelope: Envelope) -> None:
        assert self.webhook is not None  # the config requires it with receives
        await self.webhook.post(envelope)

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close()
