"""COARRI (container discharge/loading report) and COPRAR (discharge/loading order), D.95B
(ITG/SMDG) ↔ ``terminal.move``, one move per container.

The move comes from the document name code in BGM: 46 and 270 load, 44 and 98 discharge, 45
(loading order); shifts and restows, for which the directory has no code, are written as
mutually defined ``ZZZ`` with the name SHIFT or RESTOW. Read from the head: TDT+20 (voyage
and vessel) and LOC+165 (port, and the terminal as its related place; without it the
interchange sender). Per container, from EQD+CN to the next: DTM+203 (when the move was done),
LOC+147 (stowage cell), RFF+BM (the bill of lading, which becomes the correlation id).
"""

from __future__ import annotations

from typing import Any, Iterator

from . import CodecError, Context, Decoded, put
from .edifact import Interchange, Message, Segment, segment
from .edimap import EdifactCodec, dtm, eqd, first, groups, handling, need, reference, rff, \
    stowage, tdt, terminal_place, vessel

TYPE = "terminal.move"
_MOVES = {"46": "load", "270": "load", "45": "load", "44": "discharge", "98": "discharge"}
_NAMED = ("SHIFT", "RESTOW")
_WRITE = {"load": ("46",), "discharge": ("44",), "shift": ("ZZZ", None, None, "SHIFT"),
          "restow": ("ZZZ", None, None, "RESTOW")}


class MoveCodec(EdifactCodec):
    types = (TYPE,)

    def __init__(self, message_type: str) -> None:
        self.name = message_type.lower()
        self.reads = (message_type,)
        self.identifier = (message_type, "D", "95B", "UN", "ITG13")

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        head, units = groups(message.segments, "EQD")
        move = _move(need(head, "BGM", None, "the document name", message.header))
        transport = first(head, "TDT", "20")
        for unit in units:
            body = handling(unit, head, interchange, "203", "when the move was done")
            body["move"] = move
            cell = first(unit, "LOC", "147")
            put(body, "position", cell.component(1) if cell else None)
            if transport:
                body["vessel"] = vessel(transport)
                put(body, "voyage", transport.component(1))
            yield Decoded(TYPE, body, reference(unit, "BM")), unit[0]

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        out = [segment("BGM", _WRITE[body["move"]], context.reference or body["container"], "9")]
        if "vessel" in body:
            out.append(tdt(body.get("voyage", ""), body["vessel"], "1"))
        out += terminal_place(body)
        out.append(eqd(body["container"], None))
        out += rff("BM", context.correlation_id)
        out.append(dtm("203", body["at"]))
        if "position" in body:
            out.append(stowage(body["position"]))
        out.append(segment("CNT", ("16", "1")))
        return out


def _move(bgm: Segment) -> str:
    code, name = bgm.component(0), bgm.component(0, 3).upper()
    if code == "ZZZ" and name in _NAMED:
        return name.lower()
    if code not in _MOVES:
        raise CodecError(f"{bgm.where(0)}: document name code {code!r} is not a load (46, 270, "
                         "45), discharge (44, 98) or ZZZ SHIFT/RESTOW report.")
    return _MOVES[code]


COARRI = MoveCodec("COARRI")
COPRAR = MoveCodec("COPRAR")
