"""Bad EDIFACT dropped into a terminal's hot folder: each file fails with the segment and
position in its outcome file, is kept unchanged in failed/, and the good file dropped with
them still goes through."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.conformance import RECEIVER, SENDER
from tests.adapters.test_filedrop import FAST, drop, read_outcome, visible
from tests.support.aio import run, wait_until
from tests.support.network import Network

DATA = Path(__file__).parents[1] / "codecs" / "data"
BAD = {  # file: what its outcome must name
    "truncated_mid_segment.edi": "segment 17 (MEA)",
    "truncated_no_unz.edi": "after segment 11 (UNT)",
    "bad_unt_count.edi": "Segment 17 (UNT)",
    "bad_unz_count.edi": "Segment 17 (UNZ)",
    "unknown_message_type.edi": "Segment 2 (UNH)",
    "bad_container_check_digit.edi": "Segment 6 (EQD), element 2",
    "bad_imo.edi": "Segment 5 (TDT), element 8",
    "bad_date.edi": "Segment 8 (DTM), element 1",
}


def test_bad_interchanges_fail_with_segment_and_position_and_nothing_else_blocks(
        tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    net = Network(tmp_path / "net", [SENDER, RECEIVER],
                  routes={SENDER: [{"type": "terminal.*", "to": RECEIVER},
                                   {"type": "vessel.*", "to": RECEIVER}]},
                  adapters={SENDER: {"tos": {"kind": "terminal", "inbox_dir": str(inbox),
                                             "format": "edifact", **FAST}},
                            RECEIVER: {"tos": {"kind": "terminal", "outbox_dir": str(outbox),
                                               "receives": ["terminal.*", "vessel.*"]}}})

    async def scenario() -> None:
        await net.start()
        try:
            originals = {name: drop(inbox, name, (DATA / name).read_bytes()) for name in BAD}
            drop(inbox, "load.edi", (DATA / "coarri_load_aktau.edi").read_bytes())
            await wait_until(lambda: len(visible(outbox)) == 1, 20, what="the good file at baku")
            for name, where in BAD.items():
                outcome = inbox / "failed" / f"{name}.outcome.json"
                await wait_until(lambda: read_outcome(outcome) is not None
                                 and (inbox / "failed" / name).exists(), 15, what=name)
                document = read_outcome(outcome)
                assert document["reason"] == "invalid_content", (name, document)
                assert where in document["detail"], (name, document["detail"])
                assert (inbox / "failed" / name).read_bytes() == originals[name]
            assert (inbox / "done" / "load.edi").exists()
        finally:
            await net.stop()

    run(scenario())
