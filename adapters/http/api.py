"""The local REST API: ``POST /api/v1/messages`` submits, ``GET /api/v1/messages/{id}`` shows
a message's state and history. Every request is authenticated first (bearer token and/or the
TLS client certificate); errors are JSON ``{"error": "<one sentence>"}``.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from typing import Any, Awaitable, Callable

from aiohttp import web

from hub.adapter import HubHandle
from hub.envelope import format_time, utc
from hub.errors import ConfigError, SubmitError, TransientError

from ..common.submission import InvalidSubmission
from .config import HttpConfig, TlsConfig

log = logging.getLogger(__name__)

MESSAGES = "/api/v1/messages"
MAX_IDEMPOTENCY_KEY = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, text: str, **headers: str) -> web.Response:
    return web.json_response({"error": text}, status=status, headers=headers)


def server_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """HTTPS that refuses, during the handshake, a client without a certificate from ``ca``."""
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca))
        context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"http tls: cannot load the certificate, key or CA: {exc}") from None
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class Api:
    def __init__(self, name: str, config: HttpConfig, hub: HubHandle) -> None:
        self.name = name
        self.config = config
        self.hub = hub
        # Resolved once at start: a missing variable or file is a configuration error now,
        # not a 401 later. Kept as bytes for the constant-time comparison.
        self._tokens = [t.resolve().get_secret_value().encode() for t in config.tokens]
        self.decode = config.decoder()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_bytes,
                              middlewares=[self._authenticate])
        app.router.add_post(MESSAGES, self.submit)
        app.router.add_get(MESSAGES + "/{id}", self.message)
        return app

    # -- authentication --------------------------------------------------------------------
    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        problem = self._client_problem(request) or self._token_problem(request)
        if problem:
            # Never log what was presented: it may be a real token sent to the wrong place.
            log.warning("http %s: refused %s %s from %s: %s", self.name, request.method,
                        request.path, request.remote, problem, extra={"adapter": self.name})
            return error(401, problem, **{"WWW-Authenticate": 'Bearer realm="porthub"'})
        return await handler(request)

    def _token_problem(self, request: web.Request) -> str | None:
        if not self._tokens:
            return None
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return "a bearer token is required (Authorization: Bearer <token>)"
        given = presented.strip().encode()
        # Compare with every token, always, so the time taken does not tell which matched.
        matched = [hmac.compare_digest(given, token) for token in self._tokens]
        return None if any(matched) else "the bearer token is not valid"

    def _client_problem(self, request: web.Request) -> str | None:
        tls = self.config.tls
        if tls is None or not tls.allowed_clients:
            return None  # no TLS, or any certificate from ca (checked in the handshake)
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport else None
        names = [v for rdn in (cert or {}).get("subject", ()) for k, v in rdn
                 if k == "commonName"]
        if not any(n in tls.allowed_clients for n in names):
            return f"client certificate {names[0] if names else '(none)'} is not allowed"
        return None

    # -- handlers --------------------------------------------------------------------------
    async def submit(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > self.config.max_bytes:
            return self._refused(413, f"the body is {request.content_length} bytes, more "
                                      f"than max_bytes ({self.config.max_bytes})")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
            return self._refused(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} "
                                      "printable characters")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refused(413, f"the body is more than max_bytes "
                                      f"({self.config.max_bytes})")
        try:
            submissions = self.decode(raw)
        except InvalidSubmission as exc:
            return self._refused(400, str(exc))
        ids: list[str] = []
        recipients: list[str] = []
        for n, s in enumerate(submissions):
            # The n-th message of a document (a codec may read several) gets its own key.
            item = f"{self.name}:{key}" + (f":{n}" if n else "")
            try:
                done = await self.hub.submit(
                    s.type, s.body, to=s.to, correlation_id=s.correlation_id, ttl=s.ttl,
                    idempotency_key=None if key is None else item)
            except SubmitError as exc:
                return self._refused(400, str(exc) if not ids else
                                     f"{exc} (after queuing {', '.join(ids)})")
            except TransientError as exc:
                return error(503, f"the hub cannot take messages now: {exc}",
                             **{"Retry-After": "5"})
            ids += done.ids
            recipients += done.recipients
        return web.json_response(
            {"ids": ids, "recipients": recipients, "links": [f"{MESSAGES}/{i}" for i in ids]},
            status=202, headers={"Location": f"{MESSAGES}/{ids[0]}"})

    async def message(self, request: web.Request) -> web.Response:
        message_id = request.match_info["id"]
        records = await self.hub.message(message_id)
        if not records:
            return error(404, f"no message {message_id}")
        return web.json_response({"id": message_id, "records": [_readable(r) for r in records]})

    def _refused(self, status: int, text: str) -> web.Response:
        self.hub.count_refused()
        log.warning("http %s: refused a submission (%d): %s", self.name, status, text,
                    extra={"adapter": self.name})
        return error(status, text)


def _readable(record: dict[str, Any]) -> dict[str, Any]:
    """A store record with its times as RFC 3339 strings."""
    times = ("created", "expires", "updated", "at")
    out = {k: format_time(utc(v)) if k in times and v is not None else v
           for k, v in record.items() if k != "history"}
    if "history" in record:
        out["history"] = [_readable(h) for h in record["history"]]
    return out
