"""filedrop against real folders: files in at aktau, files out at baku, exactly once; outcome
files the local system can read; crash safety of the idempotency key; every bad file in
failed/ with its reason, nothing lost, everything else still flowing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.filedrop.inbound import Settler, Entry, read_bounded
from adapters.filedrop.outbound import write_message
from hub.config import load_config
from hub.envelope import Envelope, utc
from hub.errors import ConfigError, PermanentError, TransientError
from hub.failpoints import KILLED
from hub.ids import new_message_id
from hub.sandbox import build_sandbox
from tests.adapters.conformance import (RECEIVER, SENDER, Conformance, Harness, check_sample,
                                        errors, running, wait_taken)
from tests.core.bodies import STATUS, status
from tests.support import hotfolders
from tests.support.aio import run, wait_until
from tests.support.hubproc import HubProcess, store_query
from tests.support.mosquitto import mosquitto_factory  # noqa: F401 - a fixture

FAST = {"poll_interval": "50ms", "settle_time": "200ms"}


def drop(folder: Path, name: str, content: bytes | dict) -> bytes:
    """What a well-behaved local system does: write a temporary file, then rename it."""
    data = json.dumps(content).encode() if isinstance(content, dict) else content
    tmp = folder / f"{name}.part"
    tmp.write_bytes(data)
    tmp.rename(folder / name)
    return data


def status_file(n: int, **extra: Any) -> dict:
    return {"type": "shipment.status", "to": RECEIVER, "correlation_id": "AKTBAK250001",
            "body": status(n), **extra}


def visible(folder: Path) -> list[str]:
    """What a local system that skips dotfiles (the writer's temporary files) sees."""
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def read_outcome(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def config_errors(tmp_path: Path, adapters: str) -> tuple[Path, str]:
    """The errors of a configuration with these ``adapters:`` lines (YAML from line 4)."""
    path = tmp_path / "porthub.yaml"
    path.write_text(f"hub: {{id: aktau, data_dir: {tmp_path}, key: k, cert: c, ca: a}}\n"
                    f"inbox: {{kind: memory}}\nadapters:\n{adapters}")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return path, str(caught.value)


class FiledropHarness(Harness):
    name = "tos"

    def __init__(self, root: Path, **inbox_settings: Any) -> None:
        super().__init__(root)
        self.inbox = root / "aktau-tos" / "in"
        self.outbox = root / "baku-tos" / "out"
        self.inbox.mkdir(parents=True)
        self.outbox.mkdir(parents=True)
        self.inbox_settings = {**FAST, **inbox_settings}

    def adapters(self) -> dict:
        return {SENDER: {self.name: {"kind": "filedrop", "inbox_dir": str(self.inbox),
                                     **self.inbox_settings}},
                RECEIVER: {self.name: {"kind": "filedrop", "outbox_dir": str(self.outbox),
                                       "receives": ["*"]}}}

    async def emit(self, n: int) -> None:
        drop(self.inbox, f"status-{n}.json", status_file(n))

    async def taken(self) -> list[dict]:
        return [json.loads(p.read_bytes()) for p in sorted(self.outbox.iterdir())
                if not p.name.startswith(".")] if self.outbox.is_dir() else []

    async def break_output(self) -> None:
        self.outbox.rename(self.outbox.with_name("away"))  # a share that is not mounted

    async def refuse_output(self) -> None:
        self.outbox.rmdir()
        self.outbox.write_text("not a folder")  # the operator has to look

    async def heal_output(self) -> None:
        if self.outbox.is_file():
            self.outbox.unlink()
        away = self.outbox.with_name("away")
        if away.exists():
            away.rename(self.outbox)
        self.outbox.mkdir(exist_ok=True)


class TestFiledropConformance(Conformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> FiledropHarness:
        return FiledropHarness(tmp_path)


def test_sample_config_is_current_and_valid() -> None:
    check_sample("filedrop")


def test_outcome_file_names_the_message_and_turns_delivered(tmp_path: Path) -> None:
    """Given a file dropped at aktau, it moves to done/ with an outcome file naming its
    message, recipient and content hash, rewritten to 'delivered' when baku's receipt
    arrives; baku's outbox holds the message under {type}_{id}.json."""
    harness = FiledropHarness(tmp_path)

    async def scenario() -> None:
        async with running(harness, tmp_path):
            data = drop(harness.inbox, "status-7.json", status_file(7))
            outcome = harness.inbox / "done" / "status-7.json.outcome.json"
            # (the outcome file is written first, so that a crash never leaves a file in
            # done/ without one; the file itself follows at once)
            await wait_until(lambda: (read_outcome(outcome) or {}).get("state") == "delivered"
                             and (harness.inbox / "done" / "status-7.json").exists(),
                             15, what="the outcome file to say delivered")
            document = read_outcome(outcome)
            [message] = document["messages"]
            assert document["file"] == "status-7.json" and document["reason"] is None
            assert document["sha256"] == hashlib.sha256(data).hexdigest()
            assert message["to"] == RECEIVER and message["state"] == "delivered"
            assert (harness.inbox / "done" / "status-7.json").read_bytes() == data
            assert os.listdir(harness.inbox / "processing") == []
            [written] = visible(harness.outbox)
            assert written == f"shipment.status_{message['id']}.json"

    run(scenario())


def test_same_file_twice_and_restart_with_a_file_in_processing_send_once(tmp_path: Path) -> None:
    """Given the crash windows of the idempotency key: the same file dropped twice, and a
    file found in processing/ after its submit had already happened, baku's outbox still
    holds each message once and the outcome files name the first submission's id."""
    harness = FiledropHarness(tmp_path)

    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            done = harness.inbox / "done"
            data = drop(harness.inbox, "status-1.json", status_file(1))
            await wait_until(lambda: (done / "status-1.json.outcome.json").exists(), 10)
            drop(harness.inbox, "status-1.json", status_file(1))  # the same file, again
            await wait_until(lambda: (done / "status-1.1.json.outcome.json").exists(), 10)
            first = read_outcome(done / "status-1.json.outcome.json")["messages"][0]["id"]
            again = read_outcome(done / "status-1.1.json.outcome.json")["messages"][0]["id"]
            assert again == first

            # A crash after submit, before the move: the adapter's submit (same key) went
            # through, then aktau died with the file still in processing/.
            content = json.dumps(status_file(2)).encode()
            key = f"tos:status-2.json:{hashlib.sha256(content).hexdigest()}:0"
            handle = net.hubs[SENDER].adapters.adapters["tos"].hub
            early = await handle.submit("shipment.status", status(2), to=RECEIVER,
                                        correlation_id="AKTBAK250001", idempotency_key=key)
            await net.stop(SENDER)
            (harness.inbox / "processing" / "status-2.json").write_bytes(content)
            await net.start(SENDER)
            outcome = done / "status-2.json.outcome.json"
            await wait_until(lambda: (read_outcome(outcome) or {}).get("state") == "delivered",
                             15, what="status-2 delivered")
            assert read_outcome(outcome)["messages"][0]["id"] == early.ids[0]
            got = await wait_taken(harness, 2)
            await asyncio.sleep(0.5)  # a second copy, if any, would be written by now
            got = await harness.taken()
            assert sorted(m["id"] for m in got) == sorted([first, early.ids[0]])
            assert data == (done / "status-1.json").read_bytes()

    run(scenario())


def test_bad_files_fail_with_their_reason_and_nothing_is_lost(tmp_path: Path) -> None:
    """Given malformed JSON, an oversized file, an unreadable file, an unknown type and an
    invalid body dropped among good files, each bad one lands in failed/ unchanged with an
    outcome file giving its reason and a sentence, is counted, and the good ones flow."""
    harness = FiledropHarness(tmp_path, max_bytes=4000)
    bad = {
        "broken.json": (b'{"type": "shipment.status", "body": {', "invalid_content",
                        "not valid JSON"),
        "huge.json": (json.dumps(status_file(0, correlation_id="X" * 10)).encode()
                      + b" " * 6000, "too_large", "more than max_bytes (4000)"),
        "unknown.json": (json.dumps({**status_file(0), "type": "shipment.statut"}).encode(),
                         "refused", "Did you mean 'shipment.status'"),
        "invalid.json": (json.dumps({**status_file(0), "body": {**STATUS, "container": 42}})
                         .encode(), "refused", "not a valid shipment.status"),
        "nobody.json": (json.dumps({"type": "shipment.status"}).encode(), "invalid_content",
                        "body is missing"),
    }

    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            await harness.emit(0)
            for name, (data, _, _) in bad.items():
                drop(harness.inbox, name, data)
            # Unreadable: tests run as root, whom no permission stops, so the read fails
            # another real way: the file is a link to memory that cannot be read (EIO).
            (harness.inbox / "unreadable.json").symlink_to("/proc/self/mem")
            await harness.emit(1)
            failed = harness.inbox / "failed"
            names = [*bad, "unreadable.json"]
            await wait_until(lambda: all((failed / f"{n}.outcome.json").exists()
                                         and os.path.lexists(failed / n) for n in names),
                             15, what="every bad file in failed/")
            for name, (data, reason, sentence) in bad.items():
                document = read_outcome(failed / f"{name}.outcome.json")
                assert document["state"] == "failed" and document["reason"] == reason, name
                assert sentence in document["detail"], (name, document["detail"])
                assert (failed / name).read_bytes() == data  # nothing lost
            huge = read_outcome(failed / "huge.json.outcome.json")
            assert huge["sha256"] == hashlib.sha256(bad["huge.json"][0]).hexdigest()
            unreadable = read_outcome(failed / "unreadable.json.outcome.json")
            assert unreadable["reason"] == "unreadable"
            assert "cannot read unreadable.json" in unreadable["detail"]
            assert (failed / "unreadable.json").is_symlink()
            got = await wait_taken(harness, 2)
            assert sorted(m["body"]["note"] for m in got) == ["update 0", "update 1"]
            assert errors(net, SENDER, "tos", "input", "permanent") == len(names)
            assert os.listdir(harness.inbox / "processing") == []

    run(scenario())


def test_a_file_still_being_written_is_not_taken(tmp_path: Path) -> None:
    """Given a local system that writes a file in place, slowly (no temporary name), the
    file is left alone while it grows and taken whole once it has settled."""
    harness = FiledropHarness(tmp_path, settle_time="600ms")
    content = json.dumps(status_file(3)).encode()

    async def scenario() -> None:
        async with running(harness, tmp_path):
            path = harness.inbox / "slow.json"
            with open(path, "wb") as handle:
                for i in range(0, len(content), 40):  # about 2 s of writing
                    handle.write(content[i:i + 40])
                    handle.flush()
                    await asyncio.sleep(0.25)
                    assert path.exists(), "taken while still being written"
            [got] = await wait_taken(harness, 1)
            assert got["body"] == status(3)
            await wait_until(lambda: (harness.inbox / "done" / "slow.json").exists(), 5)
            assert (harness.inbox / "done" / "slow.json").read_bytes() == content

    run(scenario())


def test_settler_takes_old_files_at_once_and_new_ones_after_they_settle() -> None:
    settler = Settler(2.0)
    old, fresh = Entry("old", 10, int(1000e9)), Entry("new", 10, int(1999.5e9))
    assert settler.ready([old, fresh], now=2000.0, monotonic=50.0) == [old]
    grown = Entry("new", 20, int(2000.5e9))
    assert settler.ready([grown], now=2001.0, monotonic=51.0) == []
    assert settler.ready([grown], now=2002.6, monotonic=52.6) == [grown]


def test_large_file_is_hashed_in_chunks_not_held(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    content, sha256, size = read_bounded(path, 1 << 20)
    assert content is None and size == len(data)
    assert sha256 == hashlib.sha256(data).hexdigest()


# -- the outbox, on its own --------------------------------------------------------------------
def envelope(correlation_id: str = "AKTBAK250001", body: Any = None) -> Envelope:
    now = utc(1_760_000_000)
    return Envelope(id=new_message_id(), type="shipment.status", sender="aktau", to="baku",
                    created=now, expires=now + timedelta(days=1), body=body or STATUS,
                    correlation_id=correlation_id)


def test_outbox_never_overwrites_and_waits_for_the_local_system(tmp_path: Path) -> None:
    """Given a file name without the id (one slot), a second message waits (transient) until
    the local system has taken the first; the same message again is written once."""
    first, second = envelope(), envelope()
    assert write_message(tmp_path, "{correlation_id}.json", first) is True
    assert write_message(tmp_path, "{correlation_id}.json", first) is False
    with pytest.raises(TransientError, match="never overwritten"):
        write_message(tmp_path, "{correlation_id}.json", second)
    assert json.loads((tmp_path / "AKTBAK250001.json").read_bytes())["id"] == first.id
    (tmp_path / "AKTBAK250001.json").unlink()  # the local system took it
    assert write_message(tmp_path, "{correlation_id}.json", second) is True
    assert sorted(os.listdir(tmp_path)) == ["AKTBAK250001.json"]  # no temporary files left


def test_outbox_file_names_are_safe(tmp_path: Path) -> None:
    message = envelope(correlation_id="../../etc/passwd")
    assert write_message(tmp_path, "{sender}-{correlation_id}-{created}.json", message)
    assert os.listdir(tmp_path) == ["aktau-.._.._etc_passwd-20251009T085320Z.json"]


@pytest.fixture
def small_mount(tmp_path: Path):
    """A real 64 KiB file system (tmpfs) to fill up or make read-only; needs root."""
    point = tmp_path / "mnt"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_full_disk_is_transient_and_read_only_is_permanent(small_mount: Path) -> None:
    """Given a real file system that is full, writing is a transient error (space may be
    freed) and leaves no partial file; read-only needs the operator: permanent."""
    (small_mount / "filler").write_bytes(b"x" * (60 << 10))
    big = envelope(body={**STATUS, "note": "y" * (16 << 10)})
    with pytest.raises(TransientError, match="No space left"):
        write_message(small_mount, "{id}.json", big)
    assert os.listdir(small_mount) == ["filler"]
    (small_mount / "filler").unlink()
    assert write_message(small_mount, "{id}.json", big)
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    with pytest.raises(PermanentError, match="Read-only file system"):
        write_message(small_mount, "{id}.json", envelope())


def test_config_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path, text = config_errors(tmp_path, f"""  tos:
    kind: filedrop
    inbox_dir: {tmp_path}
    poll_interval: -1
    file_name: "{{vessel}}.json"
    colour: blue
""")
    assert f"{path}:7: adapters.tos.poll_interval: poll_interval must be positive, got -1" in text
    assert "adapters.tos.file_name: file_name uses {vessel}; the fields are id, type" in text
    assert f"{path}:9: adapters.tos.colour: unknown key" in text


def test_config_needs_a_side_and_receives_with_outbox() -> None:
    from adapters.filedrop import FiledropConfig

    with pytest.raises(ValueError, match="give inbox_dir, outbox_dir or both"):
        FiledropConfig(kind="filedrop")
    with pytest.raises(ValueError, match="outbox_dir is set but receives is empty"):
        FiledropConfig(kind="filedrop", outbox_dir="/tmp")


def test_check_reports_folders_that_cannot_work(tmp_path: Path, small_mount: Path) -> None:
    """``porthub check`` asks the adapter: a missing inbox, a work_dir on another file system
    and a read-only outbox are each named; nothing is created while checking."""
    from adapters.filedrop import FiledropConfig
    from adapters.filedrop.adapter import folder_problems

    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    config = FiledropConfig(kind="filedrop", inbox_dir=tmp_path / "missing", receives=["*"],
                            outbox_dir=small_mount)
    assert folder_problems(config) == [f"inbox_dir {tmp_path / 'missing'} is not a folder",
                                       f"outbox_dir {small_mount} is not writable"]
    assert not (tmp_path / "missing").exists()
    config = FiledropConfig(kind="filedrop", inbox_dir=tmp_path, work_dir=small_mount)
    assert "on another file system" in folder_problems(config)[-1]


def test_edifact_files_through_a_codec(tmp_path: Path) -> None:
    """Given format: coarri, an EDIFACT COARRI file becomes its terminal.move message, routed
    by aktau's routes to baku; a broken interchange fails with the codec's sentence naming the
    segment, and is kept."""
    from tests.support.network import Network

    data = Path(__file__).parents[1] / "codecs" / "data"
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    net = Network(tmp_path / "net", [SENDER, RECEIVER],
                  routes={SENDER: [{"type": "terminal.*", "to": RECEIVER}]},
                  adapters={SENDER: {"tos": {"kind": "filedrop", "inbox_dir": str(inbox),
                                             "format": "coarri", **FAST}},
                            RECEIVER: {"tos": {"kind": "filedrop", "outbox_dir": str(outbox),
                                               "receives": ["terminal.*"]}}})

    async def scenario() -> None:
        await net.start()
        try:
            drop(inbox, "load.edi", (data / "coarri_load_aktau.edi").read_bytes())
            broken = drop(inbox, "cut.edi", (data / "truncated_mid_segment.edi").read_bytes())
            await wait_until(lambda: len(visible(outbox)) == 1, 15, what="the move at baku")
            [written] = visible(outbox)
            message = json.loads((outbox / written).read_bytes())
            assert message["type"] == "terminal.move"
            assert message["correlation_id"] == "AKTBAK250001"
            outcome = inbox / "failed" / "cut.edi.outcome.json"
            await wait_until(lambda: read_outcome(outcome) is not None
                             and (inbox / "failed" / "cut.edi").exists(), 10)
            document = read_outcome(outcome)
            assert document["reason"] == "invalid_content" and "segment 17" in document["detail"]
            assert (inbox / "failed" / "cut.edi").read_bytes() == broken
        finally:
            await net.stop()

    run(scenario())


def test_encoded_file_is_the_codec_document_named_by_id_and_written_once(tmp_path: Path) -> None:
    """Given encode: {shipment.status: iftsta}, a status becomes an IFTSTA interchange named
    <type>_<id>.edi whose control reference comes from the message id; the same message again
    writes nothing and would have written the same bytes."""
    from adapters.codecs import get
    from adapters.common.codecs import Encoder

    encoder = Encoder({"shipment.status": "iftsta"})
    message = envelope()
    assert write_message(tmp_path, "{type}_{id}.{ext}", message, encoder) is True
    [written] = visible(tmp_path)
    assert written == f"shipment.status_{message.id}.edi"
    data = (tmp_path / written).read_bytes()
    assert f"+{message.id.replace('-', '')[-14:].upper()}'".encode() in data
    assert b"+AKTAU+BAKU+" in data
    [decoded] = get("iftsta").decode(data)
    assert decoded.body == STATUS and decoded.correlation_id == "AKTBAK250001"
    assert write_message(tmp_path, "{type}_{id}.{ext}", message, encoder) is False
    assert visible(tmp_path) == [written] and encoder.encode(message) == data
    # Types without a rule stay canonical JSON, named .json.
    assert Encoder({"vessel.bayplan": "baplie"}).form("shipment.status") == \
        ("json", "application/json")


def test_config_with_encode_needs_the_id_in_the_file_name_and_writable_types(
        tmp_path: Path) -> None:
    path, text = config_errors(tmp_path, f"""  customs:
    kind: filedrop
    outbox_dir: {tmp_path}
    receives: ["customs.*"]
    file_name: "decision.xml"
    encode: {{customs.decision: customs-decision-xml}}
  tos:
    kind: filedrop
    outbox_dir: {tmp_path}
    receives: ["terminal.*"]
    encode: {{"terminal.*": coarri}}
""")
    assert f"{path}:4: adapters.customs: file_name must contain {{id}} when encode is set" \
        in text
    assert f"{path}:14: adapters.tos.encode: encode: 'terminal.*' matches " \
           "terminal.gate_event, which the coarri codec cannot write" in text


def test_a_body_the_codec_cannot_write_is_dead_lettered_with_its_sentence(
        tmp_path: Path) -> None:
    """Given baku writing statuses as IFTSTA, whose code table knows only 'loaded', a
    'departed' status is dead-lettered at once with the codec's sentence and nothing is
    written; a 'loaded' one after it is written."""
    from tests.support.network import Network

    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    net = Network(tmp_path / "net", [SENDER, RECEIVER],
                  adapters={SENDER: {"tos": {"kind": "filedrop", "inbox_dir": str(inbox),
                                             **FAST}},
                            RECEIVER: {"tos": {"kind": "filedrop", "outbox_dir": str(outbox),
                                               "receives": ["*"],
                                               "encode": {"shipment.status": "iftsta"}}}})

    async def scenario() -> None:
        await net.start()
        try:
            drop(inbox, "departed.json", {**status_file(0), "body": {**STATUS,
                                                                     "status": "departed"}})
            outcome = inbox / "done" / "departed.json.outcome.json"
            await wait_until(lambda: read_outcome(outcome) is not None, 15, what="submitted")
            [message] = read_outcome(outcome)["messages"]
            await wait_until(lambda: errors(net, RECEIVER, "tos", "output", "permanent"), 15,
                             what="the dead letter")
            for _ in range(100):  # recorded once the hand-overs taken with it have ended
                [record] = await net.hubs[RECEIVER].message(message["id"])
                if record["state"] != "received":
                    break
                await asyncio.sleep(0.05)
            assert record["state"] == "dead_lettered"
            assert "cannot be written as iftsta: Status 'departed' has no IFTSTA status " \
                   "code" in record["reason"]
            assert errors(net, RECEIVER, "tos", "output", "permanent") == 1
            assert visible(outbox) == []
            drop(inbox, "loaded.json", status_file(1, body=STATUS))
            await wait_until(lambda: len(visible(outbox)) == 1, 15, what="the IFTSTA file")
            assert visible(outbox)[0].endswith(".edi")
        finally:
            await net.stop()

    run(scenario())


# -- a real crash between the commit and the move (porthub run processes) -----------------------
@pytest.mark.mosquitto
def test_killed_between_commit_and_move_sends_each_file_once(tmp_path: Path,
                                                             mosquitto_factory) -> None:
    """Given 120 files -- three bad ones among them -- in aktau's hot folder, when aktau (a
    ``porthub run`` process) dies right after its first batch of messages is committed and
    before any file left processing/ (the failpoint ``after_intake_commit``), then after a
    restart: every good file is in done/ once, its outcome file names the message of the first
    run and says delivered; aktau's outbox holds one message per good file; baku's hot folder
    holds each once; each bad file is in failed/ with its reason."""
    broker = mosquitto_factory()
    sandbox = build_sandbox(tmp_path, [SENDER, RECEIVER], lambda hub_id: {
        "kind": "mqtt", "host": broker.host, "port": broker.port, "keepalive": 5},
        extra={"retry": {"receipt_timeout": "1s", "maximum": "3s"}})
    hotfolders.add_filedrop(sandbox, tmp_path, poll_interval=0.05)
    hubs = {h: HubProcess(p) for h, p in sandbox.config_paths.items()}
    good = [f"m{n:03d}.json" for n in range(117)]
    bad = {"broken.json": b'{"type": "shipment.status", "body": {',
           "unknown.json": json.dumps({**status_file(0), "type": "shipment.statut"}).encode(),
           "invalid.json": json.dumps({**status_file(0), "body": {**STATUS, "container": 42}})
           .encode()}
    for n, name in enumerate(good):
        hotfolders.drop(tmp_path, SENDER, name, {**status_file(n), "body": {**STATUS, "note": name}})
    inbox = tmp_path / SENDER / "files" / "in"
    for name, data in bad.items():
        drop(inbox, name, data)
    aktau = hubs[SENDER]
    try:
        hotfolders.start(hubs, RECEIVER)
        aktau.start(failpoints="after_intake_commit=1")
        assert aktau.wait_exit() == KILLED
        committed = {row[0] for row in store_query(aktau.db, "SELECT id FROM messages"
                                                             " WHERE direction = 'out'")}
        assert len(committed) == len(good)  # all in the first batch, all committed
        assert sorted(os.listdir(inbox / "processing")) == sorted([*good, *bad])
        assert os.listdir(inbox / "done") == [] and os.listdir(inbox / "failed") == []

        aktau.start()
        done, outbox = inbox / "done", tmp_path / RECEIVER / "files" / "out"

        def settled() -> bool:
            states = [(read_outcome(done / f"{n}.outcome.json") or {}).get("state")
                      for n in good]
            return states == ["delivered"] * len(good) and len(visible(outbox)) == len(good)

        hotfolders.wait_for(settled, 60, "every good file delivered", hubs.values())
        assert visible(done) == sorted([*good, *(f"{n}.outcome.json" for n in good)])
        named = {read_outcome(done / f"{n}.outcome.json")["messages"][0]["id"] for n in good}
        assert named == committed
        assert store_query(aktau.db, "SELECT COUNT(*) FROM messages WHERE direction = 'out'"
                           ) == [(len(good),)]
        notes = sorted(json.loads((outbox / f).read_bytes())["body"]["note"]
                       for f in visible(outbox))
        assert notes == sorted(good)
        reasons = {n: read_outcome(inbox / "failed" / f"{n}.outcome.json")["reason"]
                   for n in bad}
        assert reasons == {"broken.json": "invalid_content", "unknown.json": "refused",
                           "invalid.json": "refused"}
        assert os.listdir(inbox / "processing") == []
    finally:
        for hub in hubs.values():
            hub.__exit__(None, None, None)
