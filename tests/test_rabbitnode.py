"""The private RabbitMQ node of tests/support/rabbitnode.py does what fault tests rely on.

Only what needs no second start of the node (a start costs several seconds): kill() and
start() again on the same data are left to the tests that use them.
"""

from __future__ import annotations

import time

import pika
import pika.exceptions
import pytest
from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout

from tests.support.rabbitnode import RabbitNode

pytestmark = pytest.mark.rabbitmq


def test_node_is_private_and_pause_freezes_it(rabbit_node: RabbitNode) -> None:
    """Given the session's node, rabbitmqctl reaches it under its own name (with its own
    cookie); paused (SIGSTOP) it accepts TCP but never answers the AMQP handshake; resumed, it
    answers again."""
    assert rabbit_node.name.startswith("porthub-") and rabbit_node.name.endswith("@localhost")
    assert rabbit_node.name in rabbit_node.rabbitmqctl("status")
    quick = pika.ConnectionParameters(rabbit_node.host, rabbit_node.amqp_port,
                                      credentials=pika.PlainCredentials("guest", "guest"),
                                      connection_attempts=1, socket_timeout=1, stack_timeout=1)
    rabbit_node.pause()
    try:
        started = time.monotonic()
        with pytest.raises((pika.exceptions.AMQPConnectionError, AMQPConnectorStackTimeout)):
            pika.BlockingConnection(quick)
        assert time.monotonic() - started < 5
    finally:
        rabbit_node.resume()
    with pika.BlockingConnection(rabbit_node.plain_parameters()) as connection:
        assert connection.is_open
