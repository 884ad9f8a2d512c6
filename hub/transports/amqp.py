"""The AMQP 0-9-1 transport: a hub's inbox on its own RabbitMQ, outlets to its peers' RabbitMQ.

What a hub declares on its own broker (docs/rabbitmq.md says why):

    exchange porthub.<hub>.inbox (direct) --routing key <hub>--> queue porthub.<hub>.inbox
    exchange porthub.<hub>.dlx (fanout)   ---------------------> queue porthub.<hub>.dead

The inbox queue dead-letters to ``porthub.<hub>.dlx``, so a rejected message is kept for the
operator instead of being dropped. An outlet declares nothing: it publishes to the peer's inbox
exchange with credentials that may only write there.

pika runs on the hub's own event loop through ``AsyncioConnection``: its I/O, heartbeats and
publisher confirms are serviced by that loop, never from another thread. Every callback below
therefore runs on the loop and needs no locking. One connection carries one channel; when either
goes, the pair is dropped and the core calls ``connect()`` again -- the transport never
reconnects by itself.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import logging
import re
import ssl
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import quote, unquote, urlsplit

import pika
import pika.exceptions as pe
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ..errors import ConfigError, NotAcknowledged, NotConnected
from ..secrets import SecretRef
from .base import Delivery, Inbox, Outlet, TransportKind, TransportSettings
from .encoding import DEFLATE

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/jose+json"
DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
CLOSE_TIMEOUT = 5.0  # seconds a graceful close may take before the connection is left to die


class AmqpTls(BaseModel):
    """TLS options for an ``amqps://`` url."""

    model_config = ConfigDict(extra="forbid")

    ca: Path | None = None  # CA bundle that signed the broker's certificate; default: the system's
    cert: Path | None = None  # client certificate, when the broker asks for one
    key: Path | None = None  # its private key (unencrypted PEM)
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _cert_and_key(self) -> "AmqpTls":
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: give both or neither")
        return self


class AmqpSettings(TransportSettings):
    """Where a hub's inbox is (for the inbox) or where a peer's inbox is (for an outlet)."""

    # Pydantic repeats the offending input in its errors; the url may hold a password.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["amqp"] = "amqp"
    url: str
    username: str | None = None
    password: SecretRef | None = None
    vhost: str | None = None  # default: the url's path, else "/"
    exchange: str | None = None  # default: porthub.<hub>.inbox
    queue: str | None = None  # default: porthub.<hub>.inbox
    queue_type: Literal["classic", "quorum"] = "classic"
    prefetch: int = 64
    heartbeat: int = 30
    connect_timeout: float = 10.0
    blocked_timeout: float = 60.0
    max_in_flight: int = 256
    tls: AmqpTls | None = None
    # "password": PLAIN login with username and password. "certificate": RabbitMQ's EXTERNAL
    # mechanism (plugin rabbitmq_auth_mechanism_ssl): the broker takes the user name from the
    # TLS client certificate and asks for no password.
    login: Literal["password", "certificate"] = "password"
    declare: bool = True  # inbox only: declare the exchanges and queues; an outlet never declares

    @model_validator(mode="before")
    @classmethod
    def _password_out_of_url(cls, data: Any) -> Any:
        """Move a password written into the url into ``password``, so the url kept (and shown
        in a repr) never carries it."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        try:
            parts = urlsplit(data["url"])
            secret = parts.password
        except ValueError:
            return data  # the url validator explains what is wrong
        if secret is None:
            return data
        if data.get("password") is not None:
            raise ValueError("url contains a password and password is also given: keep only one "
                             "(better password, from env or file)")
        netloc = parts.netloc.rpartition("@")
        user = netloc[0].partition(":")[0]
        return {**data, "url": parts._replace(netloc=f"{user}@{netloc[2]}").geturl(),
                "password": {"value": unquote(secret)}}

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"url is not a valid amqp url: {exc}") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"url must start with amqp:// or amqps://, got {parts.scheme or 'no'}"
                             " scheme")
        if not parts.hostname:
            raise ValueError("url must name the broker's host, e.g. amqp://broker.example:5672/")
        if parts.query or parts.fragment:
            raise ValueError("url must not carry ?options: use the settings heartbeat, "
                             "connect_timeout and tls instead")
        if "/" in parts.path[1:]:
            raise ValueError("url path is the vhost and must be one segment; write a '/' inside "
                             "a vhost name as %2F")
        return url

    @field_validator("exchange", "queue")
    @classmethod
    def _check_name(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not (0 < len(value) <= 255 and not value.startswith("amq.")):
            raise ValueError(f"{info.field_name} must be 1 to 255 characters and not start with "
                             f"'amq.' (reserved by RabbitMQ), got {value!r}")
        return value

    @field_validator("login")
    @classmethod
    def _check_login(cls, value: str, info: Any) -> str:
        if value != "certificate" or "url" not in info.data:
            return value  # a bad url is explained by its own validator
        if urlsplit(info.data["url"]).scheme != "amqps":
            raise ValueError("login certificate needs an amqps:// url: the broker reads the "
                             "user name from the TLS client certificate")
        tls = info.data.get("tls")
        if tls is None or tls.cert is None:
            raise ValueError("login certificate needs tls.cert and tls.key: the client "
                             "certificate is the login")
        if urlsplit(info.data["url"]).username or info.data.get("username"):
            raise ValueError("login certificate takes the user name from the certificate (its "
                             "common name, the hub id): remove username and the url's user@")
        if info.data.get("password") is not None:
            raise ValueError("login certificate uses no password: remove password")
        return value

    @field_validator("prefetch")
    @classmethod
    def _check_prefetch(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"prefetch must be between 1 and 65535, got {value}")
        return value

    @field_validator("heartbeat")
    @classmethod
    def _check_heartbeat(cls, value: int) -> int:
        if not 1 <= value <= 3600:
            raise ValueError(f"heartbeat must be between 1 and 3600 seconds, got {value} (0 would "
                             "turn off the detection of dead connections)")
        return value

    @field_validator("connect_timeout", "blocked_timeout")
    @classmethod
    def _check_timeout(cls, value: float, info: Any) -> float:
        if not value > 0:
            raise ValueError(f"{info.field_name} must be more than 0 seconds, got {value}")
        return value

    @field_validator("max_in_flight")
    @classmethod
    def _check_in_flight(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "AmqpSettings":
        parts = urlsplit(self.url)
        url_vhost = unquote(parts.path[1:]) if parts.path[1:] else None
        if url_vhost is not None and self.vhost is not None and url_vhost != self.vhost:
            raise ValueError(f"vhost {self.vhost!r} differs from the url's vhost {url_vhost!r}: "
                             "give it in one place")
        url_user = unquote(parts.username) if parts.username else None
        if url_user and self.username and url_user != self.username:
            raise ValueError(f"username {self.username!r} differs from the url's user "
                             f"{url_user!r}: give it in one place")
        if self.login == "password" and not (url_user or self.username):
            raise ValueError("username is missing: give username, or user@ in the url (or "
                             "login: certificate)")
        if self.login == "password" and self.password is None:
            raise ValueError("password is missing: give password as {env: NAME} or {file: PATH}")
        if self.tls is not None and parts.scheme != "amqps":
            raise ValueError("tls options need an amqps:// url")
        return self

    # -- derived values ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    @property
    def virtual_host(self) -> str:
        path = urlsplit(self.url).path[1:]
        return self.vhost if self.vhost is not None else (unquote(path) if path else "/")

    @property
    def user(self) -> str:
        name = urlsplit(self.url).username
        return self.username or unquote(name or "")

    @property
    def uses_tls(self) -> bool:
        return urlsplit(self.url).scheme == "amqps"

    def where(self) -> str:
        """``amqp://user@host:port/vhost``: for logs and errors, never with the password. With
        login by certificate there is no user here: the broker takes it from the certificate."""
        scheme = "amqps" if self.uses_tls else "amqp"
        user = f"{self.user}@" if self.user else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{quote(self.virtual_host, safe='')}"


def ssl_context(settings: AmqpSettings) -> ssl.SSLContext:
    """The client TLS context for an amqps url, built from ``settings.tls``.

    Built again at every connect, so a renewed certificate is picked up without a restart.
    """
    tls = settings.tls or AmqpTls()
    try:
        context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"amqp tls for {settings.where()}: cannot load the CA, certificate or "
                          f"key: {exc}") from None
    # The chain is verified either way; verify_hostname only skips matching the broker's name.
    context.check_hostname = tls.verify_hostname
    return context


def credentials(settings: AmqpSettings) -> Any:
    """pika's credentials: EXTERNAL (the client certificate) or PLAIN (user and password)."""
    if settings.login == "certificate":
        return pika.credentials.ExternalCredentials()
    assert settings.password is not None  # the settings validator makes sure of it
    return pika.PlainCredentials(settings.user, settings.password.resolve().get_secret_value())


def connection_parameters(settings: AmqpSettings, name: str) -> pika.ConnectionParameters:
    """pika's parameters for one connection called ``name`` (shown in the management UI)."""
    ssl_options = (pika.SSLOptions(ssl_context(settings), server_hostname=settings.host)
                   if settings.uses_tls else None)
    return pika.ConnectionParameters(
        host=settings.host,
        port=settings.port,
        virtual_host=settings.virtual_host,
        credentials=credentials(settings),
        heartbeat=settings.heartbeat,
        # pika aborts a connection blocked (memory or disk alarm) for longer than this; a
        # blocked broker no longer reads the socket, so a graceful close could not finish.
        blocked_connection_timeout=settings.blocked_timeout,
        connection_attempts=1,  # retries and back-off belong to the core
        socket_timeout=settings.connect_timeout,  # TCP connect
        stack_timeout=settings.connect_timeout,  # TCP + TLS + AMQP handshake
        ssl_options=ssl_options,
        # Merged over pika's own properties; never pass "capabilities" here, or the broker stops
        # sending connection.blocked.
        client_properties={"connection_name": name},
        # TCP_NODELAY needs no option: pika sets it on every socket it opens, so small frames
        # (confirms, acks) are not held back by Nagle's algorithm.
    )


# What the broker's TLS alerts mean for the operator. With TLS 1.3 the server checks the client's
# certificate after the client has finished its handshake, so its refusal only arrives as an
# alert on the first read: pika then reports a stream lost during the AMQP handshake, with
# Python's SSLError text inside.
_TLS_ALERT = re.compile(r"\[SSL: (?:SSLV3|TLSV1|TLSV13)_ALERT_(\w+)\]")
_TLS_ALERTS = {
    "CERTIFICATE_REQUIRED": "it requires a client certificate and none was given: set tls.cert "
                            "and tls.key",
    "CERTIFICATE_EXPIRED": "the client certificate {cert} has expired (or is not yet valid): "
                           "install the renewed one",
    "UNKNOWN_CA": "the client certificate {cert} is not from a CA the broker trusts: use the "
                  "certificate issued by the consortium CA",
    "BAD_CERTIFICATE": "it found the client certificate {cert} invalid",
    "CERTIFICATE_REVOKED": "the client certificate {cert} is revoked",
    "UNSUPPORTED_CERTIFICATE": "it cannot use the client certificate {cert}",
}


def _tls_problem(settings: AmqpSettings, text: str) -> str | None:
    """Words for a TLS failure found in ``text`` (an SSLError as pika passes it on), or None."""
    tls = settings.tls or AmqpTls()
    alert = _TLS_ALERT.search(text)
    if alert:
        name = alert.group(1)
        meaning = _TLS_ALERTS.get(name, "alert " + name.replace("_", " ").lower())
        return f"the broker refused the TLS connection: {meaning.format(cert=tls.cert)}"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.partition("certificate verify failed: ")[2].partition(" (_ssl")[0]
        return (f"the broker's certificate is not trusted ({detail or 'verify failed'}): "
                f"check tls.ca ({tls.ca or 'the system CAs'}) and the broker's name "
                f"{settings.host!r}")
    if "WRONG_VERSION_NUMBER" in text:
        return "no TLS answer on this port: is it the broker's plain AMQP port? (amqps://)"
    if "EOF occurred in violation of protocol" in text or "UNEXPECTED_EOF" in text:
        # The same refusal as above, when our next write meets the closed socket before we
        # have read the broker's alert.
        return ("the broker closed the TLS connection during the handshake without saying why "
                f"here: did it refuse the client certificate ({tls.cert or 'none given'})? "
                "Its log says")
    return None


class _Gone(Exception):
    """A reason of our own for giving a connection up (a timeout, a cancelled consumer)."""


def _innermost(cause: BaseException) -> BaseException:
    """The useful exception inside pika's wrappers (AMQPConnectionError(AMQPConnectionWorkflow
    Failed(..., AMQPConnectorSocketConnectError(ConnectionRefusedError))))."""
    for _ in range(10):  # bounded: a wrapper chain is a few levels deep
        inner = getattr(cause, "exceptions", None) or cause.args or [getattr(cause, "exception", 0)]
        if not inner or not isinstance(inner[-1], BaseException) or inner[-1] is cause:
            return cause
        cause = inner[-1]
    return cause


def _settle_future(future: asyncio.Future, result: Any = None,
                   error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Connection(AsyncioConnection):
    """pika's connection on the hub's loop, its writes gathered.

    pika hands every frame to its transport, which sends each with a ``send`` of its own:
    three for one published message (method, header and body frames), one per
    acknowledgement. Here the frames made in one turn of the event loop reach the transport as
    one write at the end of the turn: the same bytes in the same order, one system call for a
    burst of publishes or acknowledgements. If the connection is gone by then, what was
    gathered goes with it, as pika's own unsent buffer would.
    """

    def __init__(self, *args: Any, custom_ioloop: asyncio.AbstractEventLoop, **kwargs: Any
                 ) -> None:
        self._gathered: list[bytes] = []
        self._turn_loop = custom_ioloop
        super().__init__(*args, custom_ioloop=custom_ioloop, **kwargs)

    def _adapter_emit_data(self, data: bytes) -> None:
        if not self._gathered:
            self._turn_loop.call_soon(self._write_gathered)
        self._gathered.append(data)

    def _write_gathered(self) -> None:
        data = b"".join(self._gathered)
        self._gathered = []
        if self._transport is not None:
            super()._adapter_emit_data(data)


class _Link:
    """One pika connection and its one channel, opened on the running loop; used once.

    ``lost`` holds why the pair went (set once); after that every operation raises
    ``NotConnected`` and ``on_lost(link, cause)`` has been called.
    """

    def __init__(self, settings: AmqpSettings, name: str, what: str,
                 on_lost: Callable[["_Link", BaseException], None]) -> None:
        self.settings = settings
        self.name = name
        self.what = what  # "queue porthub.baku.inbox" or "exchange porthub.aktau.inbox"
        self.on_lost = on_lost
        self.connection: AsyncioConnection | None = None
        self.channel: Any = None
        self.lost: BaseException | None = None
        self.blocked: str | None = None  # the broker's reason while connection.blocked holds
        self._secret = ""
        self._waiting: set[asyncio.Future] = set()
        self._opened = False  # the AMQP handshake has finished
        self._closed: asyncio.Future | None = None  # done once pika has let go of the socket

    @property
    def up(self) -> bool:
        return self.lost is None and self.channel is not None and self.channel.is_open

    def describe(self) -> str:
        return f"{self.settings.where()} {self.what}"

    def reason(self, cause: BaseException) -> str:
        """Why a connection or channel went, in words a sysadmin can act on."""
        s = self.settings
        cause = _innermost(cause)
        tls_problem = _tls_problem(s, str(cause)) if s.uses_tls else None
        if tls_problem:
            return tls_problem
        if isinstance(cause, pe.AuthenticationError) and s.login == "certificate":
            return ("the broker does not offer login by certificate (SASL EXTERNAL): enable the "
                    "rabbitmq_auth_mechanism_ssl plugin and auth_mechanisms EXTERNAL on it")
        if isinstance(cause, OSError):
            return f"cannot connect: {cause.strerror or cause}"
        if isinstance(cause, (AMQPConnectorStackTimeout, pe.ConnectionOpenAborted)):
            # pika's stack timeout; we never abort an opening connection ourselves
            return f"no answer within {s.connect_timeout:g} s while opening the connection"
        if isinstance(cause, pe.IncompatibleProtocolError):
            return ("the connection dropped during the AMQP handshake (not an AMQP port, or a TLS "
                    "port reached with amqp://?)")
        if isinstance(cause, pe.ProbableAuthenticationError):
            if s.login == "certificate":
                return (f"login by the client certificate {s.tls and s.tls.cert} refused: the "
                        "broker needs a user named as the certificate's common name (the hub "
                        "id)")
            return f"login refused for user {s.user!r}: check username and password"
        if isinstance(cause, pe.ProbableAccessDeniedError):
            who = (f"the user of client certificate {s.tls and s.tls.cert}"
                   if s.login == "certificate" else f"user {s.user!r}")
            return f"{who} may not use vhost {s.virtual_host!r}"
        if isinstance(cause, pe.ConnectionBlockedTimeout):
            return (f"the broker blocked publishing ({self.blocked or 'resource alarm'}) for more "
                    f"than {s.blocked_timeout:g} s; the connection was dropped")
        if isinstance(cause, pe.AMQPHeartbeatTimeout):
            return f"no heartbeat from the broker (heartbeat {s.heartbeat} s): {cause}"
        if isinstance(cause, (pe.ConnectionClosedByBroker, pe.ChannelClosedByBroker)):
            return f"closed by the broker: {cause.reply_code} {cause.reply_text}"
        if isinstance(cause, (pe.ConnectionClosed, pe.ChannelClosed)):
            return f"closed: {cause.reply_code} {cause.reply_text}"
        if isinstance(cause, _Gone):
            return str(cause)
        return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__

    def error(self, cls: type[Exception], cause: BaseException | str) -> Exception:
        """``cls`` with a message naming the broker and the cause, never the password."""
        text = cause if isinstance(cause, str) else self.reason(cause)
        # Should a library ever put the password into its message. (guest/guest aside: a
        # password equal to the user name is shown with the user name anyway.)
        if len(self._secret) >= 3 and self._secret != self.settings.user:
            text = text.replace(self._secret, "***")
        return cls(f"amqp {self.describe()}: {text}")

    async def open(self) -> None:
        """Connect and open the channel, or raise ``NotConnected``."""
        loop = asyncio.get_running_loop()
        params = connection_parameters(self.settings, self.name)
        self._secret = getattr(params.credentials, "password", "")
        opened = self._future()
        self._closed = loop.create_future()
        self.connection = _Connection(
            params,
            on_open_callback=functools.partial(self._on_open, opened),
            on_open_error_callback=self._on_connection_closed,
            on_close_callback=self._on_connection_closed,
            custom_ioloop=loop,
        )
        # pika's own stack timeout (connect_timeout) ends a hanging handshake; this wait is the
        # backstop, a little longer, so that pika reports first and tidies up after itself.
        await self._wait(opened, "open the connection", self.settings.connect_timeout + 1)
        self.connection.add_on_connection_blocked_callback(self._on_blocked)
        self.connection.add_on_connection_unblocked_callback(self._on_unblocked)
        channel_open = self._future()
        self.connection.channel(on_open_callback=lambda ch: _settle_future(channel_open, ch))
        self.channel = await self._wait(channel_open, "open a channel")
        self.channel.add_on_close_callback(self._on_channel_closed)
        self.channel.add_on_cancel_callback(self._on_cancelled)

    async def call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one synchronous AMQP method (declare, bind, qos, ...) and await its answer."""
        done = self._future()
        try:
            method(callback=lambda frame: _settle_future(done, frame), **kwargs)
        except pe.AMQPError as exc:
            self._waiting.discard(done)
            raise self.error(NotConnected, exc) from None
        return await self._wait(done, method.__name__)

    def _future(self) -> asyncio.Future:
        if self.lost is not None:
            raise self.error(NotConnected, self.lost)
        future = asyncio.get_running_loop().create_future()
        self._waiting.add(future)
        return future

    async def _wait(self, future: asyncio.Future, step: str, timeout: float | None = None) -> Any:
        timeout = timeout or self.settings.connect_timeout
        try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            self._lose(_Gone(f"no answer within {timeout:g} s to {step}"))
            raise self.error(NotConnected, self.lost) from None
        finally:
            self._waiting.discard(future)

    # -- pika callbacks, all on the loop -------------------------------------------------------
    def _on_open(self, opened: asyncio.Future, _conn: Any) -> None:
        self._opened = True
        if self.lost is not None:  # opened just after open() gave up on it
            self._close_connection()
        _settle_future(opened)

    def _on_connection_closed(self, _conn: Any, cause: BaseException) -> None:
        self._lose(cause)
        _settle_future(self._closed)

    def _on_channel_closed(self, _channel: Any, cause: BaseException) -> None:
        self._lose(cause)
        # A channel closed by the broker (404, 406, ...) leaves its connection open: drop it too,
        # the pair is one unit.
        self._close_connection()

    def _on_cancelled(self, _frame: Any) -> None:
        # Basic.Cancel from the broker: the queue was deleted. Nothing more will arrive on this
        # channel, so give the pair up and let the core connect (and declare) again.
        self._lose(_Gone("the broker cancelled the consumer (was the queue deleted?)"))
        self._close_connection()

    def _on_blocked(self, _conn: Any, frame: Any) -> None:
        self.blocked = getattr(frame.method, "reason", "") or "resource alarm"
        log.warning("amqp %s: the broker blocked publishing (%s); giving up after %g s",
                    self.describe(), self.blocked, self.settings.blocked_timeout)

    def _on_unblocked(self, _conn: Any, _frame: Any) -> None:
        log.info("amqp %s: the broker unblocked publishing", self.describe())
        self.blocked = None

    def _lose(self, cause: BaseException) -> None:
        if self.lost is not None:
            return
        self.lost = cause
        for future in list(self._waiting):
            _settle_future(future, error=self.error(NotConnected, cause))
        self.on_lost(self, cause)

    def _close_connection(self) -> None:
        # Never before the handshake has finished: in pika 1.4, Connection.close() during the
        # AMQP handshake makes its connection workflow report the *class*
        # AMQPConnectionWorkflowAborted instead of an instance, which trips an assertion inside
        # pika, and workflow.abort() at that stage trips another. A connection we gave up on
        # while opening is closed by _on_open, or ends by pika's stack timeout.
        conn = self.connection
        if self._opened and conn is not None and not (conn.is_closing or conn.is_closed):
            conn.close()

    async def close(self) -> None:
        """Close gracefully: the broker returns unacknowledged deliveries to the queue.

        Bounded: on a dead network the close handshake cannot finish; pika's heartbeat (or its
        blocked-connection timeout) then tears the socket down by itself.
        """
        self._lose(_Gone("closed by porthub"))
        self._close_connection()
        if self._opened and self._closed is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self._closed)
            except TimeoutError:
                log.warning("amqp %s: close did not finish within %g s; the heartbeat will drop "
                            "the connection", self.describe(), CLOSE_TIMEOUT)


def _names(settings: AmqpSettings, hub_id: str) -> tuple[str, str]:
    """The inbox exchange and queue of hub ``hub_id``."""
    return (settings.exchange or f"porthub.{hub_id}.inbox",
            settings.queue or f"porthub.{hub_id}.inbox")


_LOST = object()  # put into the delivery queue when the connection goes, to wake read()


class AmqpInbox(Inbox):
    """The hub's own inbox queue, consumed with manual acknowledgement and bounded prefetch."""

    def __init__(self, settings: AmqpSettings, hub_id: str) -> None:
        self.settings = settings
        self.hub_id = hub_id
        self.exchange, self.queue = _names(settings, hub_id)
        self.dead_exchange = f"porthub.{hub_id}.dlx"
        self.dead_queue = f"porthub.{hub_id}.dead"
        self._link: _Link | None = None
        self._deliveries: asyncio.Queue = asyncio.Queue()
        self._unsettled: set[int] = set()  # delivery tags of self._link not yet acked/rejected
        self._acked: list[int] = []  # acknowledged, for the end of this turn of the loop

    async def connect(self) -> None:
        if self._link is not None and self._link.up:
            return
        await self.close()
        link = _Link(self.settings, f"porthub {self.hub_id} inbox", f"queue {self.queue}",
                     self._on_lost)
        try:
            await link.open()
            if self.settings.declare:
                await self._declare(link)
            await link.call(link.channel.basic_qos, prefetch_count=self.settings.prefetch)
            self._link, self._unsettled, self._acked = link, set(), []
            self._deliveries = asyncio.Queue()
            await link.call(link.channel.basic_consume, queue=self.queue,
                            on_message_callback=functools.partial(self._on_message, link))
        except BaseException:
            self._link = None
            await link.close()
            raise

    async def _declare(self, link: _Link) -> None:
        channel = link.channel
        queue_args = {"x-queue-type": "quorum"} if self.settings.queue_type == "quorum" else {}
        await link.call(channel.exchange_declare, exchange=self.dead_exchange,
                        exchange_type="fanout", durable=True)
        await link.call(channel.queue_declare, queue=self.dead_queue, durable=True,
                        arguments=queue_args)
        await link.call(channel.queue_bind, queue=self.dead_queue, exchange=self.dead_exchange)
        await link.call(channel.exchange_declare, exchange=self.exchange, exchange_type="direct",
                        durable=True)
        await link.call(channel.queue_declare, queue=self.queue, durable=True,
                        arguments={"x-dead-letter-exchange": self.dead_exchange, **queue_args})
        await link.call(channel.queue_bind, queue=self.queue, exchange=self.exchange,
                        routing_key=self.hub_id)

    def _on_message(self, link: _Link, _channel: Any, method: Any, properties: Any,
                    body: bytes) -> None:
        if link is not self._link:
            return  # a late delivery on a connection already given up: the broker redelivers it
        tag = method.delivery_tag
        self._unsettled.add(tag)
        self._deliveries.put_nowait(Delivery(
            body=body,
            ack=functools.partial(self._settle, link, tag, False),
            reject=functools.partial(self._settle, link, tag, True),
            redelivered=bool(method.redelivered),
            meta={"message_id": properties.message_id, "app_id": properties.app_id},
            encoding=properties.content_encoding,
        ))

    async def _settle(self, link: _Link, tag: int, reject: bool) -> None:
        verb = "reject" if reject else "acknowledge"
        if link is not self._link or not link.up or tag not in self._unsettled:
            raise link.error(NotConnected, f"cannot {verb} the delivery: the connection it came "
                                           "on is gone, the broker will deliver it again")
        self._unsettled.discard(tag)
        if not reject:
            if not self._acked:
                asyncio.get_running_loop().call_soon(self._send_acks, link)
            self._acked.append(tag)
            return
        try:
            link.channel.basic_reject(tag, requeue=False)  # to porthub.<hub>.dlx
        except pe.AMQPError as exc:
            raise link.error(NotConnected, f"cannot {verb}: {link.reason(exc)}") from None

    def _send_acks(self, link: _Link) -> None:
        """Send the acknowledgements of this turn of the loop: one ``multiple`` ack for those
        below every delivery still unsettled (a batch taken in at once), one each for the rest.
        A multiple ack covers every outstanding tag up to its own, so it never reaches past
        the lowest unsettled one. Should the connection be gone, the broker delivers them
        again and the inbox knows them as duplicates."""
        tags, self._acked = sorted(self._acked), []
        if link is not self._link or not link.up or not tags:
            return
        floor = min(self._unsettled, default=tags[-1] + 1)
        below = bisect.bisect_left(tags, floor)
        try:
            if below:
                link.channel.basic_ack(tags[below - 1], multiple=below > 1)
            for tag in tags[below:]:
                link.channel.basic_ack(tag)
        except pe.AMQPError as exc:
            log.warning("amqp %s: acknowledgements not sent, the broker delivers those "
                        "messages again: %s", link.describe(), link.reason(exc))

    def _on_lost(self, link: _Link, _exc: BaseException) -> None:
        if link is not self._link:
            return
        # Deliveries still queued here came on the lost connection: the broker redelivers them.
        while not self._deliveries.empty():
            self._deliveries.get_nowait()
        self._deliveries.put_nowait(_LOST)

    async def read(self) -> Delivery:
        link = self._link
        if link is None:
            raise NotConnected(f"amqp {self.describe()}: not connected")
        item = await self._deliveries.get()
        if item is _LOST:
            self._deliveries.put_nowait(_LOST)  # for any other reader
            raise link.error(NotConnected, link.lost or "closed")
        return item

    def read_nowait(self) -> Delivery | None:
        if self._link is None or self._deliveries.empty():
            return None
        item = self._deliveries.get_nowait()
        if item is _LOST:
            self._deliveries.put_nowait(_LOST)  # for the next read, which raises
            return None
        return item

    async def close(self) -> None:
        if self._link is not None:
            self._send_acks(self._link)  # what was acknowledged goes out before the close
        link, self._link = self._link, None
        if link is not None:
            self._deliveries.put_nowait(_LOST)
            await link.close()

    def describe(self) -> str:
        return f"{self.settings.where()} queue {self.queue}"


class AmqpOutlet(Outlet):
    """A peer's inbox exchange on the peer's broker, written with pipelined publisher confirms.

    Each ``write`` publishes at once and awaits the broker's confirm for its delivery tag, so
    many writes are in flight on one channel. For a mandatory message that cannot be routed the
    broker sends basic.return *before* basic.ack; the return is matched to its write by the
    message_id property and fails that write, whatever the ack says afterwards.
    """

    encodings = (DEFLATE,)  # in the content_encoding property

    def __init__(self, settings: AmqpSettings, peer_id: str, hub_id: str) -> None:
        self.settings = settings
        self.peer_id = peer_id
        self.hub_id = hub_id
        self.exchange = _names(settings, peer_id)[0]
        self.max_in_flight = settings.max_in_flight
        self._link: _Link | None = None
        self._pending: dict[int, tuple[asyncio.Future, str]] = {}  # tag -> (future, message id)
        self._next_tag = 1

    async def connect(self) -> None:
        if self._link is not None and self._link.up:
            return
        await self.close()
        link = _Link(self.settings, f"porthub {self.hub_id} to {self.peer_id}",
                     f"exchange {self.exchange}", self._on_lost)
        try:
            await link.open()
            link.channel.add_on_return_callback(functools.partial(self._on_return, link))
            await link.call(link.channel.confirm_delivery,
                            ack_nack_callback=functools.partial(self._on_confirm, link))
        except BaseException:
            await link.close()
            raise
        self._link, self._pending, self._next_tag = link, {}, 1

    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        link = self._link
        if link is None or not link.up:
            why = link.reason(link.lost) if link and link.lost else "not connected"
            raise NotConnected(f"amqp {self.describe()}: {why}")
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,
                                          message_id=message_id, content_type=CONTENT_TYPE,
                                          content_encoding=encoding, app_id=self.hub_id)
        try:
            link.channel.basic_publish(self.exchange, self.peer_id, body, properties,
                                       mandatory=True)
        except pe.AMQPError as exc:
            raise link.error(NotConnected, exc) from None
        confirmed = asyncio.get_running_loop().create_future()
        # Confirm-mode delivery tags count the publishes on the channel, from 1.
        self._pending[self._next_tag] = (confirmed, message_id)
        self._next_tag += 1
        await confirmed

    def _on_confirm(self, link: _Link, frame: Any) -> None:
        if link is not self._link:
            return
        method = frame.method
        if method.multiple:  # every tag up to this one; tags only grow and the dict keeps order
            last = method.delivery_tag or self._next_tag  # 0 means all outstanding
            tags = list(itertools.takewhile(lambda tag: tag <= last, self._pending))
        else:
            tags = [method.delivery_tag]
        nack = isinstance(method, pika.spec.Basic.Nack)
        for tag in tags:
            future, message_id = self._pending.pop(tag, (None, ""))
            if future is not None:
                _settle_future(future, error=link.error(
                    NotAcknowledged, f"the broker refused message {message_id} (basic.nack)")
                    if nack else None)

    def _on_return(self, link: _Link, _channel: Any, method: Any, properties: Any,
                   _body: bytes) -> None:
        if link is not self._link:
            return
        for future, message_id in self._pending.values():
            if message_id == properties.message_id and not future.done():
                future.set_exception(link.error(
                    NotAcknowledged, f"message {message_id} is unroutable: {method.reply_code} "
                    f"{method.reply_text} (no queue bound for routing key {method.routing_key!r})"))
                return

    def _on_lost(self, link: _Link, cause: BaseException) -> None:
        if link is not self._link:
            return
        # A channel closed by the broker over a publish (404: the peer's exchange does not exist,
        # 403: this user may not write to it) is a refusal of those messages; anything else is a
        # lost connection.
        refused = isinstance(cause, pe.ChannelClosedByBroker) and cause.reply_code in (403, 404)
        self._fail_pending(link, NotAcknowledged if refused else NotConnected, cause)

    def _fail_pending(self, link: _Link, cls: type[Exception], cause: BaseException | str) -> None:
        pending, self._pending = self._pending, {}
        for future, _message_id in pending.values():
            _settle_future(future, error=link.error(cls, cause))

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            self._fail_pending(link, NotConnected, "the outlet was closed")
            await link.close()

    def describe(self) -> str:
        return f"{self.settings.where()} exchange {self.exchange}"


class _AmqpKind(TransportKind):
    name = "amqp"
    settings = AmqpSettings

    def inbox(self, settings: TransportSettings, hub_id: str) -> Inbox:
        assert isinstance(settings, AmqpSettings)
        return AmqpInbox(settings, hub_id)

    def outlet(self, settings: TransportSettings, peer_id: str, hub_id: str) -> Outlet:
        assert isinstance(settings, AmqpSettings)
        return AmqpOutlet(settings, peer_id, hub_id)


KIND = _AmqpKind()
