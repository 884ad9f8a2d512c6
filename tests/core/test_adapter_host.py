"""The adapter host: adapters found by name, inbound messages routed to them by type,
outcomes of what they submitted reported back, failures retried or dead-lettered."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from hub import plugins
from hub.adapter import Adapter, AdapterConfig, HubHandle, SubmitRequest
from hub.config import validate_config
from hub.errors import ConfigError, PermanentError, SubmitError
from tests.core.bodies import DECISION, STATUS
from tests.support.aio import run, wait_until
from tests.support.network import Network

RECORDED: dict[str, list] = {}


class RecorderConfig(AdapterConfig):
    fail_with: str | None = None


class Recorder(Adapter):
    """Records deliveries and outcomes; submits one status when told to."""

    config_model = RecorderConfig

    async def deliver(self, envelope) -> None:
        if self.config.fail_with:
            raise PermanentError(self.config.fail_with)
        RECORDED.setdefault(f"{self.hub.hub_id}:{self.name}", []).append(envelope.id)

    async def on_outcome(self, outcome) -> None:
        RECORDED.setdefault(f"{self.hub.hub_id}:{self.name}:outcomes", []).append(
            (outcome.message_id, outcome.state, outcome.reason))


@pytest.fixture(autouse=True)
def recorder_registered(monkeypatch):
    real = plugins.available()
    fake = EntryPoint("recorder", "tests.core.test_adapter_host:Recorder", plugins.GROUP)
    monkeypatch.setattr(plugins, "available", lambda: {**real, "recorder": fake})
    RECORDED.clear()


def test_unknown_adapter_name_suggests_the_closest(tmp_path) -> None:
    with pytest.raises(ConfigError, match="No such adapter: 'recordr'. Did you mean 'recorder'"):
        plugins.adapter_class("recordr")


def test_adapter_config_errors_name_the_key() -> None:
    data = {"hub": {"id": "baku", "data_dir": "/d", "key": "k", "cert": "c", "ca": "a"},
            "inbox": {"kind": "memory"},
            "adapters": {"customs": {"kind": "recorder", "receives": ["customs.*"], "colour": 1}}}
    with pytest.raises(ConfigError, match="colour"):
        validate_config(data)


def test_inbound_messages_go_to_the_adapter_that_receives_their_type(tmp_path) -> None:
    """Given baku with a 'customs' adapter for customs.* and a 'tos' adapter for everything
    else, each message reaches exactly the right one; aktau's adapter hears the outcomes."""
    net = Network(tmp_path, ["aktau", "baku"], extra={"adapters": {}})
    for hub_id, adapters in (("baku", {"customs": {"kind": "recorder", "receives": ["customs.*"]},
                                       "tos": {"kind": "recorder", "receives": ["*"]}}),
                             ("aktau", {"agent": {"kind": "recorder"}})):
        path = net.sandbox.config_paths[hub_id]
        path.write_text(path.read_text().replace("adapters: {}", f"adapters: {adapters}"))

    async def scenario() -> None:
        await net.start()
        for hub in net.hubs.values():  # the adapters, not the test sink, take deliveries
            hub.local_delivery = hub.adapters.deliver
        try:
            handle = net.hubs["aktau"].adapters.adapters["agent"].hub
            status = await handle.submit("shipment.status", STATUS, to="baku",
                                         idempotency_key="status-1")
            again = await handle.submit("shipment.status", STATUS, to="baku",
                                        idempotency_key="status-1")
            assert again.ids == status.ids
            decision = await net.hubs["aktau"].submit("customs.decision", DECISION, to="baku")
            await net.wait_settled("aktau", status.ids + decision.ids)
            await wait_until(lambda: len(RECORDED.get("baku:customs", [])) == 1 and
                             len(RECORDED.get("baku:tos", [])) == 1, 5)
            assert RECORDED["baku:customs"] == decision.ids
            assert RECORDED["baku:tos"] == status.ids
            await wait_until(lambda: RECORDED.get("aktau:agent:outcomes"), 5)
            assert RECORDED["aktau:agent:outcomes"] == [(status.ids[0], "delivered", None)]
        finally:
            await net.stop()

    run(scenario())


def test_submit_many_keeps_the_order_shares_commits_and_refuses_one_alone(tmp_path) -> None:
    """Given 200 statuses of one correlation id submitted at once with a bad one among them,
    the bad one alone is refused with its SubmitError, the others are queued in the order
    given (their ids increase in that order), sharing commits (the store's writer commits
    whatever waits while it commits, so how many share one depends on the disk), and a
    repeated idempotency key gets the first submission's ids."""
    net = Network(tmp_path, ["aktau", "baku"])

    def request(n: int, **changes) -> SubmitRequest:
        return SubmitRequest(**{"type": "shipment.status", "body": {**STATUS, "note": f"{n}"},
                                "to": "baku", "correlation_id": "AKTBAK250001",
                                "idempotency_key": f"file-{n}", **changes})

    async def scenario() -> None:
        await net.start("aktau")
        try:
            hub = net.hubs["aktau"]
            handle = HubHandle(hub, "agent")
            requests = [request(n) for n in range(200)]
            requests[50] = request(50, type="shipment.statut")
            commits = hub.store.commits
            results = await handle.submit_many(requests)
            assert hub.store.commits - commits <= 150, hub.store.commits - commits
            assert isinstance(results[50], SubmitError) and "Did you mean" in str(results[50])
            ids = [r.ids[0] for n, r in enumerate(results) if n != 50]
            assert ids == sorted(ids) and len(set(ids)) == 199
            again = await handle.submit_many([request(7), request(200)])
            assert again[0].ids == results[7].ids and again[1].ids[0] > ids[-1]
            assert await hub.store.count_outgoing("queued") == {"baku": 200}
        finally:
            await net.stop()

    run(scenario())
