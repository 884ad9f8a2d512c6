"""The MQTT transport: a hub's inbox is a topic on its own Mosquitto; peers publish to it.

MQTT 5 through paho-mqtt 2.x, driven by the hub's event loop (docs/architecture.md): the socket
is watched with ``add_reader``/``add_writer``, keep-alive runs from a timer calling
``loop_misc``; paho's own thread is never started.

* The **inbox** keeps a persistent session (clean start off, a session expiry interval) and
  subscribes to ``porthub/v1/<hub>/inbox`` with manual acknowledgements, so a message is
  acknowledged only after the hub has committed it, and the broker sends again whatever was not
  acknowledged when the connection dropped.
* An **outlet** publishes to the peer's inbox topic with a clean session; ``write()`` returns
  when the PUBACK (QoS 1) or PUBCOMP (QoS 2) arrives and many writes are pipelined within a
  window that never exceeds the broker's Receive Maximum.

A broker acknowledgement is one hop, nothing more. Mosquitto acknowledges and then silently drops
messages queued for an offline inbox beyond ``max_queued_messages`` and forgets everything since
its last autosave when it is killed; the hub's outbox and signed receipts cover that
(docs/mosquitto.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Literal, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ..errors import ConfigError, NotAcknowledged, NotConnected
from ..secrets import SecretRef
from .base import Delivery, Inbox, Outlet, TransportKind, TransportSettings
from .encoding import DEFLATE

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TOPIC = "porthub/v1/{hub}/inbox"
SEVEN_DAYS = 7 * 24 * 3600
RECEIVE_MAXIMUM_ABSENT = 65535  # MQTT 5 §3.2.2.3.3: no Receive Maximum in CONNACK means 65,535
NO_MATCHING_SUBSCRIBERS = 0x10
MISC_INTERVAL = 1.0  # seconds between loop_misc calls (keep-alive pings and their timeout)
CLOSE_TIMEOUT = 2.0  # seconds a clean DISCONNECT may take before the socket is just closed
OK = MQTTErrorCode.MQTT_ERR_SUCCESS


class MqttTls(BaseModel):
    """TLS for mqtts: the CA that signed the broker's certificate and, for brokers that require
    client certificates, this hub's certificate and key."""

    model_config = ConfigDict(extra="forbid")

    ca: Path | None = None  # None: the system's trust store
    cert: Path | None = None
    key: Path | None = None
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _cert_and_key(self) -> "MqttTls":
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: give both or neither")
        return self

    def context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            if self.cert is not None:
                context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the MQTT TLS files: {exc}") from None
        context.check_hostname = self.verify_hostname
        return context


class MqttSettings(TransportSettings):
    """An MQTT broker and the inbox topic on it (this hub's own, or a peer's)."""

    kind: Literal["mqtt"] = "mqtt"
    host: str = "localhost"
    port: int | None = None  # default 8883 with tls, 1883 without
    username: str | None = None
    password: SecretRef | None = None
    topic: str = DEFAULT_TOPIC  # "{hub}" is the inbox owner's id
    qos: int = 1
    session_expiry: int = SEVEN_DAYS  # seconds the broker keeps the inbox session while offline
    client_id: str | None = None  # default porthub-<hub>-inbox / porthub-<hub>-to-<peer>
    keepalive: int = 30
    connect_timeout: float = 10.0
    # QoS 1/2 messages outstanding at once: unacknowledged publishes of an outlet (further capped
    # by the broker's Receive Maximum, 20 by default in Mosquitto 2.0) and the Receive Maximum an
    # inbox asks of the broker (deliveries the hub has not acknowledged yet).
    max_in_flight: int = 16
    tls: MqttTls | None = None

    @field_validator("qos")
    @classmethod
    def _qos(cls, value: int) -> int:
        if value not in (1, 2):
            raise ValueError(f"qos must be 1 or 2, got {value}")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {value}")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        try:
            sample = value.format(hub="h")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"topic may use only the placeholder {{hub}}, got {value!r}") from None
        if not sample or "+" in sample or "#" in sample or sample.startswith("$"):
            raise ValueError(f"topic must be a plain topic name without wildcards, got {value!r}")
        return value

    @field_validator("session_expiry")
    @classmethod
    def _session_expiry(cls, value: int) -> int:
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"session_expiry must be between 0 and {0xFFFFFFFF} seconds, "
                             f"got {value}")
        return value

    @field_validator("max_in_flight")
    @classmethod
    def _max_in_flight(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"max_in_flight must be between 1 and 65535, got {value}")
        return value

    @field_validator("keepalive", "connect_timeout")
    @classmethod
    def _positive(cls, value: float, info: Any) -> float:
        if value <= 0:
            raise ValueError(f"{info.field_name} must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "MqttSettings":
        if self.password is not None and not self.username:
            raise ValueError("password needs a username")
        if self.port is None:
            self.port = 8883 if self.tls else 1883
        return self

    def topic_for(self, hub_id: str) -> str:
        return self.topic.format(hub=hub_id)

    def url(self, topic: str) -> str:
        """Where a component points, for logs and status: never credentials."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{topic}"


class _Paho(paho.Client):
    """paho's client with two gaps of paho 2.2 closed, and its socket I/O batched.

    The gaps: both read the packet paho has just received: in PUBREC and PUBREL the packet
    identifier is the first two bytes of the variable header, and a PUBREC's v5 reason code the
    third when present.

    The I/O: paho reads a packet a byte or two at a time (the fixed header, then each byte of
    the remaining length, then the rest: four ``recv`` calls for a PUBLISH) and writes each
    queued packet with a ``send`` of its own. Here reads come out of one buffer filled by one
    ``recv`` of up to ``RECV_CHUNK`` bytes, and the packets of one write round go out in one
    ``send``: the same bytes in the same order, a few system calls instead of several per
    packet. ``buffered()`` tells the reader that packets are left in the buffer, where the
    event loop cannot see them.
    """

    RECV_CHUNK = 256 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pubrec_reasons: dict[int, int] = {}
        self._received = b""  # read from the socket, not yet taken by paho, from _taken on
        self._taken = 0
        self._held: list[bytes] = []  # packets paho counts as written, for the next send

    def buffered(self) -> bool:
        return self._taken < len(self._received)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._taken >= len(self._received):
            self._received, self._taken = super()._sock_recv(self.RECV_CHUNK), 0
        chunk = self._received[self._taken:self._taken + bufsize]
        self._taken += len(chunk)
        return chunk  # b"" only when the broker closed the connection

    def _sock_send(self, buf: bytes | bytearray) -> int:
        # paho is writing a round of queued packets: hold each but the last (paho counts it as
        # written and goes on to the next) and send them all with the last. Never hold a
        # DISCONNECT: paho closes the socket as soon as it is written.
        if self._out_packet and buf[:1] != b"\xe0":
            self._held.append(bytes(buf))
            return len(buf)
        held = sum(map(len, self._held))
        data = b"".join(self._held) + buf if held else buf
        sent = super()._sock_send(data)  # BlockingIOError: paho keeps this packet for later
        if held and sent <= held:  # none of this packet went: paho must keep it, and what
            self._held = [data[sent:held]] if sent < held else []  # is left held goes first
            self._call_socket_register_write()
            raise BlockingIOError()
        self._held = []
        return sent - held

    def _handle_pubrec(self) -> MQTTErrorCode:
        # paho ignores a PUBREC's reason code and goes on with PUBREL, after which Mosquitto's
        # PUBCOMP says success: a QoS 2 publish the broker refused (0x97 quota exceeded, 0x87 not
        # authorised) would look delivered. Remember the code so that the outlet can report it.
        packet = self._in_packet["packet"]
        if len(packet) > 2:
            self.pubrec_reasons[int.from_bytes(packet[:2], "big")] = packet[2]
        return super()._handle_pubrec()

    def _handle_pubrel(self) -> MQTTErrorCode:
        # With manual acks paho answers a PUBREL only for a message it still holds. After a
        # reconnect the broker repeats the PUBREL of every QoS 2 message delivered on the old
        # connection and not yet completed; this (new) client does not know them and would never
        # answer, so the broker would hold their packet ids in flight for the rest of the session
        # until the inbox stalls. Complete them: their PUBREC already told the broker the message
        # was taken, so it will not send it again either way.
        mid = int.from_bytes(self._in_packet["packet"][:2], "big")
        known = mid in self._in_messages
        rc = super()._handle_pubrel()
        if not known and rc == OK:
            rc = self.ack(mid, 2)
        return rc


class _Connection:
    """One paho client on one network connection, driven by the running event loop.

    Created per ``connect()``: nothing of a lost connection's state (paho's in-flight messages,
    pending acks) is carried over, which is what the hub wants -- the broker's session redelivers
    to an inbox, and the core resends what an outlet could not confirm.
    """

    def __init__(self, settings: MqttSettings, client_id: str, *, clean_start: bool,
                 session_expiry: int, receive_maximum: int | None, manual_ack: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.settings = settings
        self.where = f"{settings.host}:{settings.port}"
        self.client = _Paho(CallbackAPIVersion.VERSION2, client_id=client_id,
                            protocol=MQTTProtocolVersion.MQTTv5, manual_ack=manual_ack,
                            reconnect_on_failure=False)
        self.clean_start = clean_start
        self.properties = Properties(PacketTypes.CONNECT)
        self.properties.SessionExpiryInterval = session_expiry
        if receive_maximum is not None:
            self.properties.ReceiveMaximum = receive_maximum
        self.up = False
        self.session_present = False
        self.send_quota = RECEIVE_MAXIMUM_ABSENT  # the broker's Receive Maximum
        self.max_packet: int | None = None  # the broker's Maximum Packet Size
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.lost_reason = f"not connected to MQTT broker {self.where}"
        self.on_lost: list[Callable[[str], None]] = []
        self._connack: asyncio.Future[tuple[Any, ReasonCode, Properties]] = \
            self.loop.create_future()
        self._closing = False
        self._misc: asyncio.Task | None = None

    # -- opening ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and wait for a successful CONNACK, within ``connect_timeout``."""
        settings, client = self.settings, self.client
        client.connect_timeout = settings.connect_timeout
        if settings.username:
            password = settings.password.resolve().get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls is not None:
            client.tls_set_context(settings.tls.context())
        deadline = self.loop.time() + settings.connect_timeout
        # paho's connect() resolves the name, opens the TCP connection and does the TLS
        # handshake blocking, bounded by connect_timeout: run it in the executor so that an
        # unreachable peer cannot stall the hub's loop. No callback is installed yet, so paho
        # calls nothing of ours from that thread; the client is the loop's once it returns.
        connecting = self.loop.run_in_executor(None, functools.partial(
            client.connect, settings.host, settings.port, settings.keepalive,
            clean_start=self.clean_start, properties=self.properties))
        try:
            rc = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            connecting.add_done_callback(lambda _: self._teardown())
            raise
        except (OSError, ValueError) as exc:  # ssl errors are OSErrors
            self._teardown()
            raise NotConnected(f"cannot connect to MQTT broker {self.where}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
        try:
            await self._handshake(rc, deadline)
        except BaseException:
            self._teardown()
            raise
        self.up = True

    async def _handshake(self, rc: MQTTErrorCode, deadline: float) -> None:
        """Hand the socket to the loop and check the broker's CONNACK."""
        sock = self.client.socket()
        if rc != OK or sock is None:
            raise NotConnected(f"cannot connect to MQTT broker {self.where}: "
                               f"{paho.error_string(rc)}")
        self._attach(sock)
        try:
            flags, reason, properties = await self.until_lost(
                self._connack, deadline - self.loop.time())
        except TimeoutError:
            raise NotConnected(f"no CONNACK from MQTT broker {self.where} within "
                               f"{self.settings.connect_timeout:g}s") from None
        if reason.is_failure:
            raise NotConnected(f"MQTT broker {self.where} refused the connection: {reason}")
        maximum_qos = getattr(properties, "MaximumQoS", 2)
        if maximum_qos < self.settings.qos:
            raise NotConnected(f"MQTT broker {self.where} accepts QoS up to {maximum_qos}, "
                               f"the settings ask for {self.settings.qos}")
        self.session_present = bool(flags.session_present)
        self.send_quota = getattr(properties, "ReceiveMaximum", RECEIVE_MAXIMUM_ABSENT)
        self.max_packet = getattr(properties, "MaximumPacketSize", None)

    def _attach(self, sock: Any) -> None:
        """Hand the connected socket to the event loop."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = self.client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self.loop.add_reader(sock, self._readable)
        if client.want_write():  # the rest of CONNECT, should the kernel not have taken it all
            client.loop_write()
        self._misc = self.loop.create_task(self._tick())

    # -- paho's callbacks (all on the loop) ------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties) -> None:
        if not self._connack.done():
            self._connack.set_result((flags, reason, properties))

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Properties) -> None:
        if self._closing:
            why = f"closed the connection to MQTT broker {self.where}"
        elif flags.is_disconnect_packet_from_server:
            why = f"MQTT broker {self.where} closed the connection: {reason}"
        elif reason.getName() == "Keep alive timeout":
            why = (f"no answer from MQTT broker {self.where} within the keep-alive "
                   f"({self.settings.keepalive} s)")
        else:
            why = f"lost the connection to MQTT broker {self.where}"
        self._mark_lost(why)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self.loop.is_closed():  # paho's finaliser, on a component never closed
            return
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        # paho reports why in on_disconnect right after closing; this is only the fallback.
        self.loop.call_soon(self._mark_lost, f"lost the connection to MQTT broker {self.where}")

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _readable(self) -> None:
        client = self.client
        client.loop_read()
        # What was read at once may hold more packets, and a TLS socket decrypted bytes the
        # kernel no longer reports as readable: take them all now.
        sock = client.socket()
        while sock is not None and (
                client.buffered() or (isinstance(sock, ssl.SSLSocket) and sock.pending())):
            client.loop_read()
            sock = client.socket()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(MISC_INTERVAL)
            if self.client.loop_misc() != OK:
                return

    # -- use -------------------------------------------------------------------------------
    async def until_lost(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await ``awaitable``; raise NotConnected if the connection is lost first and
        TimeoutError after ``timeout`` seconds."""
        task = asyncio.ensure_future(awaitable)
        try:
            await asyncio.wait({task, self.lost}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            return task.result()
        task.cancel()
        if self.lost.done():
            raise NotConnected(self.lost_reason)
        raise TimeoutError

    def check(self, rc: MQTTErrorCode) -> None:
        """Raise NotConnected if paho could not queue a packet."""
        if rc != OK:
            raise NotConnected(f"MQTT broker {self.where}: {paho.error_string(rc)}")

    async def _round_trip(self, callback: str, send: Callable[[], tuple[MQTTErrorCode, Any]],
                          timeout: float) -> list[ReasonCode]:
        """Send one request and wait (bounded) for the answer paho passes to ``callback``
        (on_subscribe and on_unsubscribe take the same arguments)."""
        answer: asyncio.Future[list[ReasonCode]] = self.loop.create_future()
        setattr(self.client, callback, lambda client, userdata, mid, codes, properties:
                answer.done() or answer.set_result(codes))
        rc, _mid = send()
        self.check(rc)
        return await self.until_lost(answer, timeout)

    async def subscribe(self, topic: str, qos: int) -> None:
        """Subscribe and wait for a SUBACK granting ``qos``."""
        # Retained messages are never porthub's; do not let one replay on every reconnect.
        options = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        try:
            codes = await self._round_trip(
                "on_subscribe", lambda: self.client.subscribe(topic, options=options),
                self.settings.connect_timeout)
        except TimeoutError:
            raise NotConnected(f"no SUBACK from MQTT broker {self.where} within "
                               f"{self.settings.connect_timeout:g}s") from None
        code = codes[0]
        if code.is_failure:
            raise NotConnected(f"MQTT broker {self.where} refused the subscription to "
                               f"{topic}: {code}")
        if code.value < qos:
            raise NotConnected(f"MQTT broker {self.where} granted QoS {code.value} on {topic}, "
                               f"not {qos}: messages would not be acknowledged")

    async def barrier(self, topic: str) -> None:
        """One round trip (UNSUBSCRIBE of ``topic``, which nobody subscribes): once it is
        answered, the broker has processed every packet sent before it."""
        try:
            await self._round_trip("on_unsubscribe", lambda: self.client.unsubscribe(topic),
                                   CLOSE_TIMEOUT)
        except TimeoutError:
            pass

    # -- closing ---------------------------------------------------------------------------
    def _mark_lost(self, reason: str) -> None:
        if self.lost.done():
            return
        self.up = False
        self.lost_reason = reason
        self.lost.set_result(None)
        if self._misc is not None:
            self._misc.cancel()
        for callback in self.on_lost:
            callback(reason)

    async def close(self) -> None:
        """Send DISCONNECT (the broker keeps a persistent session) and release the socket."""
        self._closing = True
        if self.up and self.client.disconnect() == OK:
            try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self.lost)
            except TimeoutError:
                pass
        self._teardown()

    def _teardown(self) -> None:
        self._closing = True
        self._mark_lost(f"closed the connection to MQTT broker {self.where}")
        self._drop_socket()

    def _drop_socket(self) -> None:
        """Close the socket behind paho's back, once: paho would call us back about it (even
        from its finaliser, after the loop is gone), so detach first."""
        client = self.client
        sock = client.socket()
        if sock is None or sock.fileno() < 0:
            return
        client.on_socket_close = client.on_socket_register_write = None
        client.on_socket_unregister_write = client.on_disconnect = None
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        sock.close()


@dataclass(eq=False)
class _Received:
    """A delivery not yet acknowledged to the broker."""

    conn: _Connection
    mid: int
    qos: int
    settled: bool = False


class MqttInbox(Inbox):
    """The hub's inbox topic, read through a persistent session with manual acknowledgements."""

    def __init__(self, settings: MqttSettings, hub_id: str) -> None:
        self.settings = settings
        self.topic = settings.topic_for(hub_id)
        self.client_id = settings.client_id or f"porthub-{hub_id}-inbox"
        self._conn: _Connection | None = None
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._unacked: deque[_Received] = deque()  # in the order the PUBLISHes arrived
        self._had_session = False

    async def connect(self) -> None:
        await self.close()
        conn = _Connection(self.settings, self.client_id, clean_start=False,
                           session_expiry=self.settings.session_expiry,
                           receive_maximum=self.settings.max_in_flight, manual_ack=True)
        conn.client.on_message = lambda client, userdata, message: self._on_message(conn, message)
        conn.on_lost.append(lambda reason: self._forget(conn))
        self._conn = conn
        await conn.open()
        if self._had_session and not conn.session_present:
            log.warning("MQTT broker %s had no session for inbox %s: whatever was queued for it "
                        "while it was away is lost (broker restarted without saving, or the "
                        "session expired); peers resend what this hub never receipted",
                        conn.where, self.client_id)
        await conn.subscribe(self.topic, self.settings.qos)
        self._had_session = True

    @property
    def session_present(self) -> bool:
        """Whether the broker still had this inbox's session at the last connect."""
        return self._conn is not None and self._conn.session_present

    def _on_message(self, conn: _Connection, message: paho.MQTTMessage) -> None:
        received = _Received(conn, message.mid, message.qos)
        if message.qos:
            self._unacked.append(received)
        settle = functools.partial(self._settle, received)
        self._queue.put_nowait(Delivery(
            body=message.payload, ack=settle, reject=settle, redelivered=bool(message.dup),
            meta={"topic": message.topic, "qos": message.qos, "mid": message.mid},
            encoding=_encoding_of(message)))

    def _forget(self, conn: _Connection) -> None:
        """The connection is gone: what was read but not acknowledged will be redelivered."""
        if self._conn not in (None, conn):  # a newer connection owns the queue now
            return
        self._queue = asyncio.Queue()
        self._unacked.clear()

    async def read(self) -> Delivery:
        conn = self._conn
        if conn is None or not conn.up:
            raise NotConnected(conn.lost_reason if conn else f"{self.describe()} is not connected")
        delivery = (self._queue.get_nowait() if not self._queue.empty()
                    else await conn.until_lost(self._queue.get()))
        if not conn.up:  # lost in the same instant: the broker sends it again
            raise NotConnected(conn.lost_reason)
        return delivery

    def read_nowait(self) -> Delivery | None:
        conn = self._conn
        if conn is None or not conn.up or self._queue.empty():
            return None
        return self._queue.get_nowait()

    async def _settle(self, received: _Received) -> None:
        """Acknowledge one delivery (``reject`` too: MQTT has no dead-letter; the hub has
        recorded the message in its own store). MQTT requires PUBACKs in the order the PUBLISHes
        arrived (§4.6), so an acknowledgement waits for every earlier one."""
        conn = received.conn
        if conn is not self._conn or not conn.up:
            raise NotConnected(f"{conn.lost_reason}; the message was not acknowledged")
        if received.settled or not received.qos:
            return
        received.settled = True
        while self._unacked and self._unacked[0].settled:
            head = self._unacked.popleft()
            conn.check(conn.client.ack(head.mid, head.qos))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.up:
            # A new connection with our client id takes the session over at once, dropping
            # whatever of the old connection the broker has not read yet -- our last PUBACKs
            # included, whose messages would then come again. Make sure they were read.
            try:
                await conn.barrier(f"{self.topic}/closing")
            except NotConnected:
                pass
        await conn.close()

    def describe(self) -> str:
        return self.settings.url(self.topic)


@dataclass(eq=False)
class _Publish:
    """A write waiting for its PUBACK or PUBCOMP."""

    future: asyncio.Future[None]
    window: asyncio.Semaphore
    message_id: str


class MqttOutlet(Outlet):
    """Publishes to a peer's inbox topic, pipelined within the broker's Receive Maximum."""

    encodings = (DEFLATE,)  # in an MQTT 5 user property

    def __init__(self, settings: MqttSettings, peer_id: str, hub_id: str) -> None:
        self.settings = settings
        self.topic = settings.topic_for(peer_id)
        self.client_id = settings.client_id or f"porthub-{hub_id}-to-{peer_id}"
        self.max_in_flight = settings.max_in_flight
        self.window = settings.max_in_flight  # this connection's: min(ours, broker's)
        self._conn: _Connection | None = None
        self._slots = asyncio.Semaphore(self.window)
        self._pending: dict[int, _Publish] = {}

    @property
    def in_flight(self) -> int:
        """Publishes sent and not yet acknowledged by the broker."""
        return len(self._pending)

    async def connect(self) -> None:
        await self.close()
        # Clean start: a publisher needs no session, and paho must not resend the old
        # connection's messages by itself -- their writes failed and the core resends them.
        conn = _Connection(self.settings, self.client_id, clean_start=True, session_expiry=0,
                           receive_maximum=None, manual_ack=False)
        conn.client.on_publish = functools.partial(self._on_publish, conn)
        # paho's own window (default 20) cannot change once connected; ours is never larger.
        conn.client.max_inflight_messages_set(self.settings.max_in_flight)
        conn.on_lost.append(functools.partial(self._fail_pending, conn))
        self._conn = conn
        await conn.open()
        # paho 2.2 ignores the Receive Maximum in CONNACK. A broker receiving more QoS 2
        # publishes than it allows answers "quota exceeded" and drops them, which paho does not
        # report. Cap the window to it.
        self.window = min(self.settings.max_in_flight, conn.send_quota)
        self._slots = asyncio.Semaphore(self.window)
        self._pending = {}

    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        conn, slots = self._conn, self._slots
        if conn is None or not conn.up:
            raise NotConnected(conn.lost_reason if conn else f"{self.describe()} is not connected")
        properties = _encoding_properties(encoding)
        size = _publish_size(self.topic, body, encoding)
        if conn.max_packet is not None and size > conn.max_packet:
            # paho 2.2 would send it anyway, and the broker would drop the connection.
            raise NotAcknowledged(f"message {message_id} is {size} bytes as an MQTT packet; "
                                  f"MQTT broker {conn.where} accepts at most {conn.max_packet}")
        if slots.locked():
            await conn.until_lost(slots.acquire())
        else:
            await slots.acquire()
        if not conn.up:  # lost while we waited: paho would queue the publish and say success
            slots.release()
            raise NotConnected(conn.lost_reason)
        try:
            info = conn.client.publish(self.topic, body, qos=self.settings.qos,
                                       properties=properties)
        except ValueError as exc:  # payload too large for MQTT
            slots.release()
            raise NotAcknowledged(f"{self.describe()}: {exc}") from None
        if info.rc != OK:
            slots.release()
            conn.check(info.rc)
        # Registered before anything can answer: paho reads PUBACKs only in loop_read, which
        # runs from the loop's reader callback, never inside publish() -- unlike with paho's
        # own thread, on_publish cannot overtake us here.
        publish = _Publish(asyncio.get_running_loop().create_future(), slots, message_id)
        self._pending[info.mid] = publish
        await publish.future

    def _on_publish(self, conn: _Connection, client: paho.Client, userdata: Any, mid: int,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if conn is not self._conn:
            return
        publish = self._pending.pop(mid, None)
        if publish is None:
            return
        publish.window.release()
        if publish.future.done():  # the writer was cancelled meanwhile
            return
        refused = _refusal(conn.client.pubrec_reasons.pop(mid, None), PacketTypes.PUBREC) \
            or _refusal(reason.value, reason.packetType)
        if refused:
            publish.future.set_exception(NotAcknowledged(
                f"MQTT broker {conn.where} did not take message {publish.message_id} for "
                f"{self.topic}: {refused}"))
        else:
            publish.future.set_result(None)

    def _fail_pending(self, conn: _Connection, reason: str) -> None:
        if self._conn not in (None, conn):  # a newer connection owns the pending writes now
            return
        # Their window slots stay taken: the window dies with the connection, and freeing them
        # would only wake writers waiting for a slot into a dead connection.
        pending, self._pending = self._pending, {}
        for publish in pending.values():
            if not publish.future.done():
                publish.future.set_exception(NotConnected(
                    f"{reason}; message {publish.message_id} was not confirmed"))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def describe(self) -> str:
        return self.settings.url(self.topic)


ENCODING_PROPERTY = "content-encoding"  # the MQTT 5 user property that carries it


def _encoding_properties(encoding: str | None) -> Properties | None:
    if encoding is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = (ENCODING_PROPERTY, encoding)
    return properties


def _encoding_of(message: paho.MQTTMessage) -> str | None:
    for name, value in getattr(message.properties, "UserProperty", None) or ():
        if name == ENCODING_PROPERTY:
            return value
    return None


def _publish_size(topic: str, body: bytes, encoding: str | None = None) -> int:
    """The size of the MQTT 5 PUBLISH packet paho sends for ``body`` (QoS > 0): topic, packet
    id and the properties (none, or the encoding's user property) after a fixed header of 2
    to 5 bytes."""
    properties = 0 if encoding is None else \
        1 + 2 + len(ENCODING_PROPERTY) + 2 + len(encoding.encode())  # id, two strings
    remaining = 2 + len(topic.encode()) + 2 + 1 + properties + len(body)
    return 1 + (1 if remaining < 128 else 2 if remaining < 16384 else
                3 if remaining < 2097152 else 4) + remaining


def _refusal(code: int | None, packet_type: int) -> str | None:
    """Why the broker did not take a message, or None if it did."""
    if code is None or (code < 0x80 and code != NO_MATCHING_SUBSCRIBERS):
        return None
    try:
        name = ReasonCode(packet_type, identifier=code).getName()
    except Exception:  # noqa: BLE001 - a code not defined for this packet (Mosquitto sends some)
        name = "reason code"
    if code == NO_MATCHING_SUBSCRIBERS:
        return (f"{name} (0x10): the inbox has no session on that broker, so the message "
                f"went nowhere")
    return f"{name} (0x{code:02x})"


class _MqttKind(TransportKind):
    name = "mqtt"
    settings = MqttSettings

    def inbox(self, settings: TransportSettings, hub_id: str) -> Inbox:
        assert isinstance(settings, MqttSettings)
        return MqttInbox(settings, hub_id)

    def outlet(self, settings: TransportSettings, peer_id: str, hub_id: str) -> Outlet:
        assert isinstance(settings, MqttSettings)
        return MqttOutlet(settings, peer_id, hub_id)


KIND = _MqttKind()
