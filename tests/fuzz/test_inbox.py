"""Fuzzing a running hub's inbox (in-memory broker): whatever a peer or anyone else puts in
baku's inbox is settled -- acknowledged or rejected, never left hanging -- and a refused
message is recorded as a rejection with a documented reason code and nothing else: no inbox
row, nothing handed over."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import events as ev
from hub.envelope import Envelope
from hub.ids import new_message_id
from hub.security import pki
from hub.security.identity import Identity
from hub.verify import REASONS
from tests.core.bodies import DECISION, STATUS
from tests.support.aio import wait_until
from tests.support.network import Network

from . import fuzz_settings
from .strategies import JSON, dumps, envelope_dicts, mutated

INBOX = "porthub.baku.inbox"
POLICY = {"aktau": ["shipment.status", "vessel.*"], "*": ["*"]}
OUTCOMES = (ev.RECEIVED, ev.DUPLICATE, ev.REFUSED)


class Recorder:
    """An observer keeping baku's inbound outcomes."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        if event.kind in OUTCOMES:
            self.events.append(event)


class Baku:
    """A running baku with aktau and samsun as peers, and identities to sign as."""

    def __init__(self, root: Path) -> None:
        self.net = Network(root / "net", ["aktau", "baku", "samsun"], policy=POLICY,
                           extra={"limits": {"max_message_bytes": 8192}})
        self.loop = asyncio.new_event_loop()
        self.signers = {hub_id: self._identity(root / "net" / hub_id / "tls", hub_id)
                        for hub_id in ("aktau", "samsun")}
        pki.issue(self.net.sandbox.ca_dir, "mallory", root / "mallory")  # not a peer
        self.signers["mallory"] = self._identity(root / "mallory", "mallory")
        pki.init_ca(root / "other-ca")  # the consortium CA's name, another key
        pki.issue(root / "other-ca", "aktau", root / "forged")
        self.signers["forged-aktau"] = self._identity(root / "forged", "aktau")
        self.recorder = Recorder()
        self.loop.run_until_complete(self.net.start("baku"))
        self.hub = self.net.hubs["baku"]
        self.hub.events.observers.append(self.recorder)
        self.db = root / "net" / "baku" / "data" / "hub.db"

    @staticmethod
    def _identity(folder: Path, hub_id: str) -> Identity:
        return Identity.load(folder / f"{hub_id}.key", folder / f"{hub_id}.crt")

    def counts(self) -> tuple[int, int]:
        """(inbox rows, rejection rows) as the store has them on disk."""
        with closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            inbox = conn.execute("SELECT count(*) FROM messages WHERE direction = 'in'")
            rejections = conn.execute("SELECT count(*) FROM rejections")
            return inbox.fetchone()[0], rejections.fetchone()[0]

    def offer(self, data: bytes) -> tuple[ev.Event | None, bool]:
        """Put ``data`` in the inbox and wait until it is settled; return its outcome (None
        for a receipt that settles nothing) and whether the broker got it back rejected."""
        queue = self.net.broker.queues[INBOX]
        self.recorder.events.clear()
        dead = len(queue.dead)
        self.net.broker.publish(INBOX, data)
        # the outcome is recorded before the delivery is settled
        self.loop.run_until_complete(wait_until(
            lambda: not queue.ready and not queue.unacked, 10,
            what="the message to be acknowledged or rejected"))
        assert len(self.recorder.events) <= 1, self.recorder.events
        return (self.recorder.events or [None])[0], len(queue.dead) > dead

    def close(self) -> None:
        self.loop.run_until_complete(self.net.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def baku(tmp_path_factory: pytest.TempPathFactory):
    hub = Baku(tmp_path_factory.mktemp("inbox"))
    yield hub
    hub.close()


def envelope(sender: str, type: str) -> dict:
    now = datetime.now(timezone.utc)
    return Envelope(id=new_message_id(), type=type, sender=sender, to="baku", created=now,
                    expires=now + timedelta(days=1), body=DECISION if "customs" in type
                    else STATUS, correlation_id="AKTBAK250001").to_dict()


@st.composite
def inbox_input(draw: st.DrawFn, baku: Baku) -> bytes:
    """Anything on the wire: bytes, JSON, a mutated message, a signed mutated envelope."""
    signer = draw(st.sampled_from(sorted(baku.signers)))
    identity = baku.signers[signer]
    valid = envelope(identity.hub_id, draw(st.sampled_from(["shipment.status",
                                                            "customs.decision"])))
    signed = draw(st.just(valid) | envelope_dicts(valid, datetime.now(timezone.utc)))
    message = identity.sign(dumps(signed, ascii=draw(st.booleans())))
    return draw(st.just(message) | mutated(message) | st.binary(max_size=200)
                | JSON.map(dumps))


@fuzz_settings(0.25)
@given(data=st.data())
def test_whatever_reaches_the_inbox_is_settled_and_a_refusal_stores_nothing(baku, data):
    blob = data.draw(inbox_input(baku))
    inbox, rejections = baku.counts()
    outcome, rejected = baku.offer(blob)
    after_inbox, after_rejections = baku.counts()
    if outcome is not None and outcome.kind == ev.REFUSED:
        assert outcome.reason in REASONS and outcome.reason != "duplicate", outcome
        assert after_inbox == inbox, "a refused message is in the inbox"
        assert after_rejections == rejections + 1
        return
    assert not rejected
    if outcome is not None and outcome.kind == ev.RECEIVED:
        assert after_inbox == inbox + 1 and after_rejections == rejections
    else:
        assert (after_inbox, after_rejections) == (inbox, rejections)
