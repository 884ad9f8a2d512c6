"""The real RabbitMQ for tests: where it is, a throw-away vhost per test run, broker-side faults.

The broker is found at ``PORTHUB_TEST_RABBIT`` (``host:port``, default ``127.0.0.1:5672``) with
the ``guest`` user; ``rabbitmqctl`` is run as ``PORTHUB_TEST_RABBITMQCTL`` (default
``rabbitmqctl``; in CI e.g. ``docker exec rabbitmq rabbitmqctl``). A broker that cannot be
reached is a test *failure*, never a skip: a green run must mean the transport was tested.

Test modules use the fixtures by importing them: ``from tests.support.rabbit import rabbit_vhost``.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import uuid
from contextlib import contextmanager
from typing import Iterator

import pika
import pytest

USER = "guest"
PASSWORD = "guest"
CTL_TIMEOUT = 30.0


def broker_address() -> tuple[str, int]:
    host, _, port = os.environ.get("PORTHUB_TEST_RABBIT", "127.0.0.1:5672").rpartition(":")
    return host or "127.0.0.1", int(port)


def require_rabbitmq() -> tuple[str, int]:
    """The broker's address; fail the calling test if nothing listens there."""
    host, port = broker_address()
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {host}:{port} ({exc}). The AMQP tests need "
                    "the real broker: start it, or point PORTHUB_TEST_RABBIT at it.",
                    pytrace=False)
    return host, port


def rabbitmqctl(*args: str) -> str:
    """Run one rabbitmqctl command; raise with its output if it fails."""
    command = shlex.split(os.environ.get("PORTHUB_TEST_RABBITMQCTL", "rabbitmqctl")) + list(args)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CTL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot run {shlex.join(command)}: {exc}", pytrace=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}): "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def create_vhost(prefix: str = "porthub-test") -> str:
    """A new vhost with a unique name where ``guest`` may do everything."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, USER, ".*", ".*", ".*")
    return name


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


@contextmanager
def temporary_user(vhost: str, configure: str, write: str, read: str) -> Iterator[tuple[str, str]]:
    """A new user with these permission regexes on ``vhost``: (name, password); deleted after."""
    name, password = f"porthub-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rabbitmqctl("add_user", name, password)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, name, configure, write, read)
        yield name, password
    finally:
        rabbitmqctl("delete_user", name)


def close_all_connections(vhost: str, why: str = "closed by a porthub test") -> None:
    """Have the broker close every client connection in ``vhost`` (and only there)."""
    rabbitmqctl("close_all_connections", "-p", vhost, why)


def drain(vhost: str, queue: str, limit: int = 10_000,
          keep: bool = False) -> list[tuple[pika.spec.BasicProperties, bytes]]:
    """Take every message out of ``queue`` and return (properties, body) pairs; with
    ``keep``, only look: they are taken without an ack and go back when the connection closes.

    Blocking pika, so call it outside the event loop under test.
    """
    host, port = broker_address()
    params = pika.ConnectionParameters(host, port, vhost, pika.PlainCredentials(USER, PASSWORD),
                                       connection_attempts=1, socket_timeout=5)
    taken = []
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        for _ in range(limit):
            method, properties, body = channel.basic_get(queue, auto_ack=not keep)
            if method is None:
                break
            taken.append((properties, body))
    return taken


@pytest.fixture(scope="session")
def rabbit_vhost() -> Iterator[str]:
    """A vhost of this test run on the real broker, deleted at the end (with all in it)."""
    require_rabbitmq()
    name = create_vhost()
    try:
        yield name
    finally:
        delete_vhost(name)
