"""The fault-injecting TCP proxy of tests/support/tcpproxy.py does what the fault tests rely on."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack

import pytest

from tests.support.tcpproxy import TcpProxy

TIMEOUT = 3.0


def _connected_pair(stack: ExitStack) -> tuple[TcpProxy, socket.socket, socket.socket]:
    """A target listener, a proxy in front of it and one connection through it:
    (proxy, client end, target end)."""
    target = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    target.settimeout(TIMEOUT)
    proxy = stack.enter_context(TcpProxy("127.0.0.1", target.getsockname()[1]))
    client = stack.enter_context(socket.create_connection(proxy.address, timeout=TIMEOUT))
    server, _ = target.accept()
    stack.enter_context(server)
    server.settimeout(TIMEOUT)
    return proxy, client, server


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_bytes_flow_both_ways_and_a_cut_resets_both_ends() -> None:
    """Given a connection through the proxy, bytes pass both ways; after cut() both the client
    and the target see a reset, and the proxy holds no connection."""
    with ExitStack() as stack:
        proxy, client, server = _connected_pair(stack)
        client.sendall(b"ping" * 1000)
        assert _recv_exactly(server, 4000) == b"ping" * 1000
        server.sendall(b"pong")
        assert _recv_exactly(client, 4) == b"pong"

        proxy.cut()
        assert proxy.connections() == 0
        for end in (client, server):
            with pytest.raises(ConnectionResetError):
                end.recv(1)


def test_blackhole_holds_bytes_until_lifted() -> None:
    """Given a blackholed proxy, nothing arrives while it lasts, the connection stays open, and
    the held bytes arrive in order once it is lifted."""
    with ExitStack() as stack:
        proxy, client, server = _connected_pair(stack)
        proxy.blackhole(True)
        client.sendall(b"held")
        server.settimeout(0.3)
        with pytest.raises(socket.timeout):
            server.recv(4)
        assert proxy.connections() == 1
        proxy.blackhole(False)
        server.settimeout(TIMEOUT)
        assert _recv_exactly(server, 4) == b"held"


def test_delay_and_reset_new() -> None:
    """Given delay(0.3), a round trip takes at least 0.3 s; given reset_new(True), a new
    connection is reset while the old one keeps working."""
    with ExitStack() as stack:
        proxy, client, server = _connected_pair(stack)
        proxy.delay(0.3)
        started = time.monotonic()
        client.sendall(b"slow")
        assert _recv_exactly(server, 4) == b"slow"
        assert time.monotonic() - started >= 0.3
        proxy.delay(0)

        proxy.reset_new(True)
        # The reset can arrive while connect() is still returning, or on the first send/recv.
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            refused = stack.enter_context(
                socket.create_connection(proxy.address, timeout=TIMEOUT))
            refused.sendall(b"x")
            refused.recv(1)
        client.sendall(b"still")
        assert _recv_exactly(server, 5) == b"still"


def test_orderly_close_is_passed_on() -> None:
    """Given the client shuts its sending side, the target reads the end of the stream and can
    still answer."""
    with ExitStack() as stack:
        _proxy, client, server = _connected_pair(stack)
        client.sendall(b"bye")
        client.shutdown(socket.SHUT_WR)
        assert _recv_exactly(server, 10) == b"bye"
        server.sendall(b"ok")
        server.close()
        assert _recv_exactly(client, 10) == b"ok"
