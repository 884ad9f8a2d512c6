"""IFTSTA D.99B, international multimodal status report ↔ ``shipment.status``, one status per
STS group.

A consignment starts at CNI; each of its STS groups holds STS (category and status code), RFF+BM
(bill of lading, also the correlation id), DTM+334 (when the status changed), LOC+175 (where),
FTX+AAI (a note) and EQD+CN (the container). The status code (C555, code list 9011 / UN/CEFACT
Recommendation 24) is turned into porthub's status word by a table. Partners use these codes
differently, so the table is a parameter: ``IftstaCodec(statuses={...})``. The default holds
the codes seen from the corridor's partners so far; a code outside the table is refused, never
guessed.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from . import CodecError, Context, Decoded, put
from .edifact import Interchange, Message, Segment, segment
from .edimap import EdifactCodec, container, dtm, eqd, first, free_text, ftx, groups, loc, \
    locode_at, need, reference, rff, when

TYPE = "shipment.status"
DEFAULT_STATUSES = {"24": "loaded"}  # ADY: container loaded on the wagon


class IftstaCodec(EdifactCodec):
    name = "iftsta"
    types = (TYPE,)
    reads = ("IFTSTA",)
    identifier = ("IFTSTA", "D", "99B", "UN")

    def __init__(self, statuses: Mapping[str, str] = DEFAULT_STATUSES) -> None:
        self.statuses = dict(statuses)
        self.codes = {word: code for code, word in self.statuses.items()}

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        _, shipments = groups(message.segments, "CNI")
        if not shipments:
            raise CodecError(f"{message.header.where()}: the message has no consignment (CNI).")
        for shipment in shipments:
            _, reports = groups(shipment, "STS")
            if not reports:
                raise CodecError(f"{shipment[0].where()}: the consignment has no status (STS).")
            for report in reports:
                status = report[0]
                body: dict[str, Any] = {
                    "status": self._word(status),
                    "at": when(need(report, "DTM", "334", "when the status changed", status)),
                }
                equipment = first(report, "EQD")
                put(body, "container", container(equipment) if equipment else None)
                put(body, "bill_of_lading", reference(report, "BM"))
                put(body, "location", locode_at(report, "175"))
                put(body, "note", free_text(first(report, "FTX", "AAI")))
                yield Decoded(TYPE, body, body.get("bill_of_lading")), status

    def _word(self, status: Segment) -> str:
        code = status.component(1)
        if code not in self.statuses:
            known = ", ".join(f"{c} ({w})" for c, w in sorted(self.statuses.items()))
            raise CodecError(f"{status.where(1)}: status code {code!r} is not in this codec's "
                             f"status table ({known}).")
        return self.statuses[code]

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        code = self.codes.get(body["status"])
        if code is None:
            raise CodecError(f"Status {body['status']!r} has no IFTSTA status code in this "
                             f"codec's table ({', '.join(sorted(self.codes))}).")
        consignment = body.get("bill_of_lading") or context.reference or "1"
        out = [segment("BGM", "23", context.reference or consignment, "9"),
               segment("CNI", "1", consignment), segment("STS", "1", code)]
        out += rff("BM", body.get("bill_of_lading"))
        out.append(dtm("334", body["at"]))
        out += loc("175", body.get("location"))
        out += ftx("AAI", body.get("note"))
        if "container" in body:
            out.append(eqd(body["container"], None))
        return out


IFTSTA = IftstaCodec()
