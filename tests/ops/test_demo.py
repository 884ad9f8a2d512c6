"""``porthub demo``: the five-port walk on files, run as a user runs it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from adapters.codecs import get
from hub.cli import main

DATA = Path(__file__).parents[2] / "hub" / "demo_data"


def test_demo_walks_the_shipment_on_files_and_names_what_it_wrote(tmp_path: Path,
                                                                   capsys) -> None:
    """Given EDIFACT and XML files dropped into Aktau's and Baku's systems' folders, the demo
    exits 0 within seconds; it names the files written for Baku's customs, Baku's terminal
    and the railway, which --keep leaves in place, and they say what Aktau's files said."""
    keep = tmp_path / "demo"
    started = time.monotonic()
    code = main(["demo", "--keep", str(keep)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert time.monotonic() - started < 30
    assert "OK: every message arrived exactly once, with its receipt." in out
    assert "Attacks refused: untrusted_certificate, bad_signature, duplicate." in out
    listed = re.findall(r"^  (\S+'s [\w ]+?) +(\S+)  \(", out, re.MULTILINE)
    by_owner: dict[str, list[Path]] = {}
    for owner, path in listed:
        assert (keep / path).is_file(), path
        by_owner.setdefault(owner, []).append(keep / path)
    assert len(listed) == 10  # one file per message: 6 along the way, 4 statuses
    [cuscar] = by_owner["Baku's customs"]
    assert cuscar.name.startswith("customs.pre_arrival_") and cuscar.suffix == ".edi"
    assert sorted(p.name.split("_")[0] for p in by_owner["Baku's terminal"]) == \
        ["terminal.move", "vessel.bayplan"]
    [note] = by_owner["Samsun's railway TCDD"]
    assert note.suffix == ".xml"
    for written, codec, sample in [
            (cuscar, "cuscar-pre-arrival", "cuscar_pre_arrival_baku.edi"),
            (note, "smgs-xml", "smgs_alat_samsun.xml"),
            (*[p for p in by_owner["Baku's terminal"] if "bayplan" in p.name], "baplie",
             "baplie_aktau_baku.edi")]:
        [again] = get(codec).decode(written.read_bytes())
        [original] = get(codec).decode((DATA / sample).read_bytes())
        assert again.body == original.body, written
