"""A fault-injecting TCP proxy for tests: put it between a client and a broker, then break the
network on purpose.

It runs in a thread of its own with its own selector, so it keeps working (or keeps failing)
whatever the event loop under test is doing. Faults:

* ``cut()``: reset every current connection (RST, both sides), like a crashed middlebox;
* ``blackhole(True)``: connections stay open but nothing is forwarded either way, like a link
  that silently stops carrying packets; ``blackhole(False)`` lets the held bytes through, as
  TCP would once the link came back;
* ``delay(seconds)``: forward every chunk that many seconds late (a slow satellite link);
* ``reset_new(True)``: new connections are reset at once (a broker port that refuses us).

Every method returns only once the proxy thread has applied it. Nothing here blocks without a
bound: the thread wakes at least every ``TICK`` seconds, commands wait at most ``COMMAND_TIMEOUT``.
"""

from __future__ import annotations

import errno
import queue
import selectors
import socket
import struct
import threading
import time
from collections import deque
from typing import Callable

TICK = 0.05
COMMAND_TIMEOUT = 5.0
CHUNK = 65536
HIGH_WATER = 1 << 20  # stop reading a side while this much is waiting to be written to the other


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` so that the peer gets a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Side:
    """One socket of a proxied connection and the bytes waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.outgoing: deque[tuple[float, bytes]] = deque()  # (time due, bytes)
        self.queued = 0
        self.eof = False  # the other side has closed its sending direction: shut ours after flush
        self.shut = False


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = _Side(client)
        self.upstream = _Side(upstream)
        self.connected = False  # the upstream connect has completed

    def other(self, side: _Side) -> _Side:
        return self.upstream if side is self.client else self.client


class TcpProxy:
    """Listens on ``127.0.0.1:<free port>`` and forwards each connection to ``target``."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._pairs: list[_Pair] = []
        self._blackhole = False
        self._delay = 0.0
        self._reset_new = False
        self._stop = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name=f"tcpproxy:{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -- the test's side ---------------------------------------------------------------------
    def cut(self) -> None:
        """Reset every current connection, both towards the client and towards the target."""
        self._call(self._cut_all)

    def blackhole(self, on: bool) -> None:
        """While on, forward nothing either way; connections stay open."""
        self._call(lambda: setattr(self, "_blackhole", on))

    def delay(self, seconds: float) -> None:
        """Forward each chunk read from now on ``seconds`` late (0 to stop delaying)."""
        self._call(lambda: setattr(self, "_delay", max(0.0, seconds)))

    def reset_new(self, on: bool) -> None:
        """While on, reset every new connection as soon as it is accepted."""
        self._call(lambda: setattr(self, "_reset_new", on))

    def connections(self) -> int:
        """How many proxied connections are open now."""
        result: list[int] = []
        self._call(lambda: result.append(len(self._pairs)))
        return result[0]

    def close(self) -> None:
        """Stop the thread and reset every connection."""
        if self._thread.is_alive():
            self._stop = True
            self._wake()
            self._thread.join(COMMAND_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"tcpproxy:{self.port} did not stop within {COMMAND_TIMEOUT} s")

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, command: Callable[[], None]) -> None:
        if not self._thread.is_alive():
            raise RuntimeError(f"tcpproxy:{self.port} is not running")
        done = threading.Event()
        self._commands.put((command, done))
        self._wake()
        if not done.wait(COMMAND_TIMEOUT):
            raise RuntimeError(f"tcpproxy:{self.port} did not answer within {COMMAND_TIMEOUT} s")

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- the proxy thread --------------------------------------------------------------------
    def _run(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop:
                self._run_commands()
                self._step()
        finally:
            self._cut_all()
            self._run_commands()  # release anyone still waiting
            self._selector.close()
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()

    def _run_commands(self) -> None:
        while True:
            try:
                command, done = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            finally:
                done.set()

    def _step(self) -> None:
        now = time.monotonic()
        timeout = TICK
        for pair in self._pairs:
            for side in (pair.client, pair.upstream):
                if side.outgoing and not self._blackhole:
                    timeout = min(timeout, max(0.0, side.outgoing[0][0] - now))
        self._update_interest()
        for key, mask in self._selector.select(timeout):
            if key.data == "listen":
                self._accept()
            elif key.data == "wake":
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            else:
                pair, side = key.data
                if pair in self._pairs:
                    self._on_event(pair, side, mask)
        if not self._blackhole:
            for pair in list(self._pairs):
                for side in (pair.client, pair.upstream):
                    if pair in self._pairs:
                        self._flush(pair, side)

    def _update_interest(self) -> None:
        for pair in self._pairs:
            for side in (pair.client, pair.upstream):
                events = 0
                if not pair.connected and side is pair.upstream:
                    events = selectors.EVENT_WRITE  # completion of the non-blocking connect
                elif not self._blackhole and pair.connected:
                    if pair.other(side).queued < HIGH_WATER and not pair.other(side).eof:
                        events |= selectors.EVENT_READ
                    if side.outgoing and side.outgoing[0][0] <= time.monotonic():
                        events |= selectors.EVENT_WRITE
                key = self._selector.get_map().get(side.sock)
                if key is None and events:
                    self._selector.register(side.sock, events, (pair, side))
                elif key is not None and not events:
                    self._selector.unregister(side.sock)
                elif key is not None and key.events != events:
                    self._selector.modify(side.sock, events, (pair, side))

    def _accept(self) -> None:
        for _ in range(64):  # bounded: the rest wait for the next round
            try:
                client, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.accepted += 1
            if self._reset_new:
                _reset(client)
                continue
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setblocking(False)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = upstream.connect_ex(self.target)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                _reset(client)
                upstream.close()
                continue
            self._pairs.append(_Pair(client, upstream))

    def _on_event(self, pair: _Pair, side: _Side, mask: int) -> None:
        if not pair.connected:
            err = side.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._drop(pair)
            else:
                pair.connected = True
            return
        if mask & selectors.EVENT_READ:
            try:
                data = side.sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(pair)
                return
            if data == b"":  # orderly close: pass it on once what is queued has been written
                pair.other(side).eof = True
            elif data:
                other = pair.other(side)
                other.outgoing.append((time.monotonic() + self._delay, data))
                other.queued += len(data)
        if mask & selectors.EVENT_WRITE:
            self._flush(pair, side)

    def _flush(self, pair: _Pair, side: _Side) -> None:
        now = time.monotonic()
        while side.outgoing and side.outgoing[0][0] <= now:
            due, data = side.outgoing[0]
            try:
                sent = side.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(pair)
                return
            side.queued -= sent
            if sent < len(data):
                side.outgoing[0] = (due, data[sent:])
                return
            side.outgoing.popleft()
        if side.eof and not side.outgoing and not side.shut:
            side.shut = True
            try:
                side.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if pair.client.shut and pair.upstream.shut:  # both directions are finished
            self._drop(pair, reset=False)

    def _drop(self, pair: _Pair, reset: bool = True) -> None:
        if pair not in self._pairs:
            return
        self._pairs.remove(pair)
        for side in (pair.client, pair.upstream):
            if side.sock in self._selector.get_map():
                self._selector.unregister(side.sock)
            if reset:
                _reset(side.sock)
            else:
                side.sock.close()

    def _cut_all(self) -> None:
        for pair in list(self._pairs):
            self._drop(pair)
