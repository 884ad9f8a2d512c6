"""CODECO D.95B (ITG14), container gate-in/gate-out report ↔ ``terminal.gate_event``, one
event per container.

BGM 34 is a gate-in report and 36 a gate-out report. Per container, from EQD+CN to the next:
EQD (5 full / 4 empty), DTM+7 (when the container passed the gate), LOC+165 (port, and the
terminal as its related place; without it the interchange sender), RFF+BM (the bill of
lading, which becomes the correlation id) and TDT+1 (the inland carrier: mode 2 rail, 3 road,
8 inland water; its id from C222, else the carrier from C040). LOC+165 may also stand in the
head for all containers.
"""

from __future__ import annotations

from typing import Any, Iterator

from . import CodecError, Context, Decoded, put
from .edifact import Interchange, Message, Segment, segment
from .edimap import EdifactCodec, dtm, eqd, first, full, groups, handling, need, reference, \
    rff, terminal_place

TYPE = "terminal.gate_event"
_DIRECTIONS = {"34": "in", "36": "out"}
_MODES = {"2": "rail", "3": "truck", "8": "barge"}


class CodecoCodec(EdifactCodec):
    name = "codeco"
    types = (TYPE,)
    reads = ("CODECO",)
    identifier = ("CODECO", "D", "95B", "UN", "ITG14")

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        head, units = groups(message.segments, "EQD")
        bgm = need(head, "BGM", None, "the document name", message.header)
        direction = _DIRECTIONS.get(bgm.component(0))
        if direction is None:
            raise CodecError(f"{bgm.where(0)}: document name code {bgm.component(0)!r} is "
                             "not a gate-in (34) or gate-out (36) report.")
        for unit in units:
            body = handling(unit, head, interchange, "7", "when the container passed the gate")
            body["direction"] = direction
            put(body, "full", full(unit[0]))
            put(body, "carrier", _carrier(first(unit, "TDT")))
            yield Decoded(TYPE, body, reference(unit, "BM")), unit[0]

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        code = next(c for c, d in _DIRECTIONS.items() if d == body["direction"])
        out = [segment("BGM", code, context.reference or body["container"], "9"),
               eqd(body["container"], None, full=body.get("full"))]
        out += rff("BM", context.correlation_id)
        out.append(dtm("7", body["at"]))
        out += terminal_place(body)
        carrier = body.get("carrier")
        if carrier:
            mode = next(c for c, m in _MODES.items() if m == carrier["mode"])
            out.append(segment("TDT", "1", None, mode, None, None, None, None,
                               (carrier.get("id"),)))
        out.append(segment("CNT", ("16", "1")))
        return out


def _carrier(transport: Segment | None) -> dict[str, Any] | None:
    if transport is None:
        return None
    mode = _MODES.get(transport.component(2))
    if mode is None:
        raise CodecError(f"{transport.where(2)}: transport mode {transport.component(2)!r} is "
                         "not rail (2), road (3) or inland water (8).")
    carrier = {"mode": mode}
    put(carrier, "id", transport.component(7) or transport.component(4))
    return carrier


CODECO = CodecoCodec()
