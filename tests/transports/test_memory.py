"""The in-memory transport passes the transport conformance suite."""

from __future__ import annotations

import itertools
import uuid

import pytest

from hub.transports import memory
from tests.transports.conformance import *  # noqa: F401,F403

_counter = itertools.count()


class MemoryEnv:
    def __init__(self) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.settings = memory.MemorySettings(broker=self.name)

    def new_hub_id(self) -> str:
        return f"h{next(_counter)}x{uuid.uuid4().hex[:6]}"

    def inbox(self, hub_id: str):
        return memory.KIND.inbox(self.settings, hub_id)

    def outlet(self, peer_id: str, hub_id: str):
        return memory.KIND.outlet(self.settings, peer_id, hub_id)

    def cut(self) -> None:
        memory.get_broker(self.name).cut()


@pytest.fixture
def transport_env():
    env = MemoryEnv()
    yield env
    memory.drop_broker(env.name)
