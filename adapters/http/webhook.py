"""Webhook delivery: POST each inbound message to the local system, signed with HMAC.

The request body is the message's canonical JSON (the signed envelope payload), or the
document the codec named for its type in ``encode`` writes (EDIFACT, XML), with its media type.
Headers: ``Idempotency-Key`` and ``X-Porthub-Message-Id`` (the message id: a receiver that keeps
the keys it has seen takes a repeated delivery once), ``X-Porthub-Type`` (the canonical type)
and ``X-Porthub-Signature: sha256=<hex HMAC-SHA256 of the body>`` (the receiver checks it with
the shared secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from urllib.parse import urlsplit

import aiohttp

from hub.envelope import Envelope
from hub.errors import PermanentError, TransientError

from ..common.codecs import CANONICAL, Encoder
from .config import WebhookConfig

SIGNATURE = "X-Porthub-Signature"
MESSAGE_ID = "X-Porthub-Message-Id"
TYPE = "X-Porthub-Type"
RETRY_STATUSES = (408, 429)  # 4xx that say "later", not "never"
SHOWN = 300  # characters of an error answer kept in the reason


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, config: WebhookConfig, encoder: Encoder = CANONICAL) -> None:
        self.url = config.url
        self.encoder = encoder
        parts = urlsplit(config.url)  # for messages: without any user:password@
        self.where = f"{parts.scheme}://{parts.hostname}" + \
            (f":{parts.port}" if parts.port else "") + parts.path
        self._secret = config.secret.resolve().get_secret_value().encode()
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, envelope: Envelope) -> None:
        """Deliver ``envelope``; 2xx returns, 5xx/408/429/timeout/unreachable raise
        ``TransientError`` (the hub retries), any other answer, or a body the encoder's codec
        cannot write, ``PermanentError``."""
        body = self.encoder.encode(envelope)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Content-Type": self.encoder.form(envelope.type)[1],
                   "Idempotency-Key": envelope.id, MESSAGE_ID: envelope.id,
                   TYPE: envelope.type, SIGNATURE: signature(self._secret, body)}
        try:
            async with self._session.post(self.url, data=body, headers=headers,
                                          allow_redirects=False) as answer:
                status = answer.status
                text = (await answer.content.read(SHOWN)).decode("utf-8", "replace").strip()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientError(f"webhook {self.where} unreachable: "
                                 f"{exc or type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        what = f"webhook {self.where} answered {status}" + (f": {text}" if text else "")
        if status >= 500 or status in RETRY_STATUSES:
            raise TransientError(what)
        raise PermanentError(what)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
