"""BAPLIE D.95B (SMDG 2.x) ↔ ``vessel.bayplan``.

Read: BGM, DTM+137 (prepared), TDT+20 (voyage, carrier, IMO and name), LOC+5 (this port) and
LOC+61 (next port); then a group per container from LOC+147 (stowage cell, ISO 9711 BBBRRTT):
MEA+WT or +VGM (weight), LOC+9 and LOC+11 (load and discharge ports), RFF+BM (bill of
lading), EQD+CN (number, size-type, 5 full / 4 empty) and NAD+CA (container operator). The
departure and arrival times (DTM+178/132) are not part of the canonical bay plan.
"""

from __future__ import annotations

from typing import Any, Iterator

from . import Context, Decoded, put
from .edifact import Interchange, Message, Segment, segment
from .edimap import EdifactCodec, container, dtm, eqd, first, full, groups, loc, locode, \
    locode_at, mea, need, reference, rff, single, stowage, tdt, vessel, weight, when

TYPE = "vessel.bayplan"


class BaplieCodec(EdifactCodec):
    name = "baplie"
    types = (TYPE,)
    reads = ("BAPLIE",)
    identifier = ("BAPLIE", "D", "95B", "UN", "SMDG20")

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        head, cells = groups(message.segments, "LOC", "147")
        transport = need(head, "TDT", "20", "the vessel and voyage", message.header)
        body: dict[str, Any] = {
            "vessel": vessel(transport),
            "voyage": transport.component(1),
            "port": locode(need(head, "LOC", "5", "the port of departure", message.header)),
        }
        put(body, "next_port", locode_at(head, "61"))
        prepared = first(head, "DTM", "137")
        put(body, "prepared_at", when(prepared) if prepared else None)
        body["containers"] = [self._slot(cell) for cell in cells]
        yield (Decoded(TYPE, body, single([c.get("bill_of_lading") for c in body["containers"]])),
               message.header)

    @staticmethod
    def _slot(cell: list[Segment]) -> dict[str, Any]:
        position = cell[0]
        equipment = need(cell, "EQD", "CN", "the container", position)
        slot: dict[str, Any] = {"container": container(equipment),
                                "position": position.component(1)}
        put(slot, "size_type", equipment.component(2))
        put(slot, "weight_kg", weight(cell))
        put(slot, "pol", locode_at(cell, "9"))
        put(slot, "pod", locode_at(cell, "11"))
        put(slot, "bill_of_lading", reference(cell, "BM"))
        put(slot, "full", full(equipment))
        operator = first(cell, "NAD", "CA")
        put(slot, "operator", operator.component(1) if operator else None)
        return slot

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        out = [segment("BGM", None, context.reference or body["voyage"], "9")]
        if "prepared_at" in body:
            out.append(dtm("137", body["prepared_at"]))
        out.append(tdt(body["voyage"], body["vessel"]))
        out += loc("5", body["port"]) + loc("61", body.get("next_port"))
        for slot in body["containers"]:
            out.append(stowage(slot["position"]))
            out += mea("VGM", None, slot.get("weight_kg"), decimal)
            out += loc("9", slot.get("pol"), coded=False) + loc("11", slot.get("pod"), coded=False)
            out += rff("BM", slot.get("bill_of_lading"))
            out.append(eqd(slot["container"], slot.get("size_type"), full=slot.get("full"),
                           coded=False))
            if slot.get("operator"):
                out.append(segment("NAD", "CA", (slot["operator"], "172", "20")))
        return out


BAPLIE = BaplieCodec()
