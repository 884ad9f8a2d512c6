"""The domain adapters -- terminal, customs, rail -- are presets over a channel: their
settings, defaults and overrides; the conformance suite through one of them; EDIFACT and XML
from one port's local systems written as EDIFACT and XML for the other's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.codecs import get
from hub.plugins import adapter_config
from tests.adapters.conformance import RECEIVER, SENDER, Conformance, check_sample
from tests.adapters.test_filedrop import (FAST, FiledropHarness, config_errors, drop,
                                          read_outcome, visible)
from tests.support.aio import run, wait_until
from tests.support.network import Network

DATA = Path(__file__).parents[1] / "codecs" / "data"


@pytest.mark.parametrize("kind", ["terminal", "customs", "rail"])
def test_sample_config_is_current_and_valid(kind: str) -> None:
    check_sample(kind)


def test_presets_fill_the_domain_defaults_where_the_settings_leave_them_out() -> None:
    """Given only folders, a terminal reads EDIFACT by message type and writes bay plans,
    moves and gate events as EDIFACT; receives defaults only where there is an output side;
    every preset can be overridden, and another channel takes that channel's settings."""
    both = adapter_config({"kind": "terminal", "inbox_dir": "/in", "outbox_dir": "/out"})
    assert (both.channel, both.format, both.receives) == \
        ("filedrop", "edifact", ["vessel.*", "terminal.*"])
    assert both.encode == {"vessel.bayplan": "baplie", "terminal.move": "coarri",
                           "terminal.gate_event": "codeco"}
    assert adapter_config({"kind": "terminal", "inbox_dir": "/in"}).receives == []
    agent = adapter_config({"kind": "customs", "inbox_dir": "/in", "format": "edifact",
                            "cuscar": "cuscar-pre-arrival", "outbox_dir": "/out",
                            "receives": ["customs.decision"], "encode": {}})
    assert (agent.format, agent.cuscar, agent.receives, agent.encode) == \
        ("edifact", "cuscar-pre-arrival", ["customs.decision"], {})
    api = adapter_config({"kind": "customs", "channel": "http", "tokens": [{"env": "T"}],
                          "webhook": {"url": "http://127.0.0.1:9/c", "secret": {"env": "S"}}})
    assert (api.channel, api.format, api.receives) == \
        ("http", "customs-decision-xml", ["customs.*", "cargo.manifest"])
    assert api.encode["customs.pre_arrival"] == "cuscar-pre-arrival"
    rows = adapter_config({"kind": "rail", "channel": "sql", "dsn": "sqlite:///srv/rail.db"})
    assert (rows.channel, rows.receives) == ("sql", ["rail.consignment"])


def test_preset_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path, text = config_errors(tmp_path, f"""  tos:
    kind: terminal
    inbox_dir: {tmp_path}
    poll_interval: -1
  railway:
    kind: rail
    channel: ftp
  customs:
    kind: customs
    channel: sql
    dsn: sqlite:///srv/customs.db
    encode: {{customs.decision: customs-decision-xml}}
""")
    assert f"{path}:7: adapters.tos.poll_interval: poll_interval must be positive, got -1" \
        in text
    assert f"{path}:10: adapters.railway.channel: channel must be filedrop, http or sql, got 'ftp'" \
        in text
    assert f"{path}:15: adapters.customs.encode: unknown key" in text


class TerminalHarness(FiledropHarness):
    """The conformance suite through ``kind: terminal`` over filedrop: statuses are no
    terminal document, so they travel as envelope-json and are written as canonical JSON."""

    def adapters(self) -> dict:
        return {hub: {name: {**settings, "kind": "terminal",
                             **({"format": "envelope-json"} if "inbox_dir" in settings else {})}
                      for name, settings in adapters.items()}
                for hub, adapters in super().adapters().items()}


class TestTerminalConformance(Conformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> TerminalHarness:
        return TerminalHarness(tmp_path)


def test_edifact_from_aktau_is_written_as_edifact_for_baku(tmp_path: Path) -> None:
    """Given aktau's terminal and agent dropping BAPLIE, COARRI and CUSCAR files into their
    folders, baku's terminal gets the bay plan as BAPLIE and the move as COARRI, baku's
    customs the pre-arrival declaration as CUSCAR: each file read back gives the message that
    was sent, and each file is named by its message id."""
    folders = {name: tmp_path / name for name in
               ("aktau-tos", "aktau-agent", "baku-tos", "baku-customs")}
    for folder in folders.values():
        folder.mkdir()
    net = Network(
        tmp_path / "net", [SENDER, RECEIVER],
        routes={SENDER: [{"type": "*", "to": RECEIVER}]},
        adapters={
            SENDER: {"tos": {"kind": "terminal", "inbox_dir": str(folders["aktau-tos"]), **FAST},
                     "agent": {"kind": "customs", "inbox_dir": str(folders["aktau-agent"]),
                               "format": "edifact", "cuscar": "cuscar-pre-arrival", **FAST}},
            RECEIVER: {"tos": {"kind": "terminal", "outbox_dir": str(folders["baku-tos"])},
                       "customs": {"kind": "customs",
                                   "outbox_dir": str(folders["baku-customs"])}}})
    dropped = {"aktau-tos": ["baplie_aktau_baku.edi", "coarri_load_aktau.edi"],
               "aktau-agent": ["cuscar_pre_arrival_baku.edi"]}

    async def scenario() -> None:
        await net.start()
        try:
            for folder, names in dropped.items():
                for name in names:
                    drop(folders[folder], name, (DATA / name).read_bytes())
            await wait_until(lambda: len(visible(folders["baku-tos"])) == 2
                             and len(visible(folders["baku-customs"])) == 1, 15,
                             what="three files at baku")
            sent = {}
            for folder, names in dropped.items():
                for name in names:
                    outcome = folders[folder] / "done" / f"{name}.outcome.json"
                    await wait_until(lambda: read_outcome(outcome) is not None, 10)
                    [message] = read_outcome(outcome)["messages"]
                    sent[message["id"]] = (message["type"], name)
        finally:
            await net.stop()
        written = {**{n: folders["baku-tos"] for n in visible(folders["baku-tos"])},
                   **{n: folders["baku-customs"] for n in visible(folders["baku-customs"])}}
        codecs = {"vessel.bayplan": "baplie", "terminal.move": "coarri",
                  "customs.pre_arrival": "cuscar-pre-arrival"}
        for message_id, (type_name, source) in sent.items():
            [name] = [n for n in written if message_id in n]
            assert name == f"{type_name}_{message_id}.edi"
            codec = get(codecs[type_name])
            [again] = codec.decode((written[name] / name).read_bytes())
            [original] = codec.decode((DATA / source).read_bytes())
            assert (again.type, again.body) == (original.type, original.body)

    run(scenario())


def test_a_status_for_the_terminal_stays_canonical_json(tmp_path: Path) -> None:
    """Given a terminal that also receives statuses, which no terminal codec writes, the
    status is written as canonical JSON, named .json."""
    outbox = tmp_path / "out"
    outbox.mkdir()
    harness = TerminalHarness(tmp_path)
    net = Network(tmp_path / "net", [SENDER, RECEIVER], adapters={
        SENDER: harness.adapters()[SENDER],
        RECEIVER: {"tos": {"kind": "terminal", "outbox_dir": str(outbox),
                           "receives": ["shipment.status"]}}})

    async def scenario() -> None:
        await net.start()
        try:
            await harness.emit(0)
            await wait_until(lambda: visible(outbox), 15, what="the status file")
        finally:
            await net.stop()

    run(scenario())
    [name] = visible(outbox)
    assert name.startswith("shipment.status_") and name.endswith(".json")
    assert json.loads((outbox / name).read_bytes())["type"] == "shipment.status"
