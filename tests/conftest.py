"""Fixtures shared across the test suite."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.security_fixtures import PKIWorld
# The private RabbitMQ node: registered here, once, so that every module that asks for it gets
# the same node (a fixture imported into several test modules would start one per module).
from tests.support.rabbitnode import rabbit_node  # noqa: F401


@pytest.fixture(scope="session")
def pki_world(tmp_path_factory: pytest.TempPathFactory) -> PKIWorld:
    """The consortium PKI of tests/security_fixtures.py; keys live in a temp dir only."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return PKIWorld.build(tmp_path_factory.mktemp("pki"), now)
