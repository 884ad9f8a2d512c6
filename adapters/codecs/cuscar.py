"""CUSCAR D.95B, customs cargo report ↔ ``cargo.manifest`` or ``customs.pre_arrival``.

One CUSCAR message is one body of the codec's type (two codecs, one per type, read the same
message). Head: BGM (document number: the declaration reference), TDT+20 (voyage, vessel),
LOC+5 (port of loading), LOC+60 (port of arrival; LOC+11 also read), DTM+132 (estimated
arrival). Then a consignment per CNI (its bill of lading) with NAD+CZ (shipper) and NAD+CN
(consignee), and goods items from GID: packages (GID), FTX+AAA (description), PIA+5 (HS code),
MEA+AAE+G (gross kilograms) and SGP (the containers it is in). A consignment with several
goods items becomes one with the descriptions joined, weights and packages added up, and the
HS code kept only when all items share it. A consignment without SGP takes the containers of
the header EQDs when it is the only consignment.
"""

from __future__ import annotations

from typing import Any, Iterator

from . import CodecError, Context, Decoded, put
from .edifact import Interchange, Message, Segment, segment
from .edimap import EdifactCodec, container, container_number, dtm, eqd, first, free_text, \
    ftx, groups, loc, locode, mea, nad, need, number, party, single, tdt, vessel, weight, when

MANIFEST, PRE_ARRIVAL = "cargo.manifest", "customs.pre_arrival"


class CuscarCodec(EdifactCodec):
    types = (MANIFEST, PRE_ARRIVAL)
    reads = ("CUSCAR",)
    identifier = ("CUSCAR", "D", "95B", "UN")

    def __init__(self, produces: str) -> None:
        self.produces = produces
        self.name = "cuscar-manifest" if produces == MANIFEST else "cuscar-pre-arrival"

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        head, shipments = groups(message.segments, "CNI")
        transport = need(head, "TDT", "20", "the vessel and voyage", message.header)
        arrival = first(head, "LOC", "60", "11")
        if arrival is None:
            raise CodecError(f"{message.header.where()}: no LOC+60 or LOC+11 (the port of "
                             "arrival) in the part that starts here.")
        header_boxes = [container(s) for s in head if s.tag == "EQD"]
        if not shipments:
            raise CodecError(f"{message.header.where()}: the message has no consignment (CNI).")
        consignments = [self._consignment(s, header_boxes if len(shipments) == 1 else [])
                        for s in shipments]
        body: dict[str, Any] = {"vessel": vessel(transport), "voyage": transport.component(1)}
        if self.produces == MANIFEST:
            body["pol"] = locode(need(head, "LOC", "5", "the port of loading", message.header))
            body["pod"] = locode(arrival)
        else:
            bgm = need(head, "BGM", None, "the document number", message.header)
            body["declaration_ref"] = bgm.component(1)
            body["port"] = locode(arrival)
            body["eta"] = when(need(head, "DTM", "132", "the estimated arrival",
                                    message.header))
            for item in consignments:
                for key in ("packages", "shipper", "consignee"):
                    item.pop(key, None)
        body["consignments"] = consignments
        yield (Decoded(self.produces, body, single([c["bill_of_lading"] for c in consignments])),
               message.header)

    def _consignment(self, shipment: list[Segment], header_boxes: list[str]) -> dict[str, Any]:
        cni = shipment[0]
        parties, items = groups(shipment, "GID")
        result: dict[str, Any] = {"bill_of_lading": cni.component(1)}
        boxes = list(dict.fromkeys(container_number(s, 0) for s in shipment if s.tag == "SGP"))
        result["containers"] = boxes or header_boxes
        if not result["containers"]:
            raise CodecError(f"{cni.where()}: the consignment names no container (SGP).")
        texts = [t for t in (free_text(first(i, "FTX", "AAA")) for i in items) if t]
        put(result, "goods", "; ".join(texts))
        codes = {p.component(1) for i in items for p in i if p.tag == "PIA"}
        put(result, "hs_code", codes.pop() if len(codes) == 1 else None)
        weights = [w for w in (weight(i) for i in items) if w is not None]
        put(result, "gross_kg", sum(weights) if weights else None)
        packages = [number(i[0], 1, 0) for i in items if i[0].component(1)]
        put(result, "packages", sum(packages) if packages else None)
        put(result, "shipper", party(first(parties, "NAD", "CZ")))
        put(result, "consignee", party(first(parties, "NAD", "CN")))
        return result

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        reference = body.get("declaration_ref") or context.reference or body["voyage"]
        out = [segment("BGM", "85", reference, "9"), tdt(body["voyage"], body["vessel"], "1")]
        out += loc("5", body.get("pol")) + loc("60", body.get("pod") or body.get("port"))
        if "eta" in body:
            out.append(dtm("132", body["eta"]))
        boxes = dict.fromkeys(c for item in body["consignments"] for c in item["containers"])
        out += [eqd(c, None) for c in boxes]
        for number_, item in enumerate(body["consignments"], 1):
            out.append(segment("CNI", str(number_), item["bill_of_lading"]))
            out += nad("CZ", item.get("shipper")) + nad("CN", item.get("consignee"))
            packages = item.get("packages")
            out.append(segment("GID", "1", None if packages is None else (str(packages),)))
            out += ftx("AAA", item.get("goods"))
            if "hs_code" in item:
                out.append(segment("PIA", "5", (item["hs_code"], "HS")))
            out += mea("AAE", "G", item.get("gross_kg"), decimal)
            out += [segment("SGP", c) for c in item["containers"]]
        return out


CUSCAR_MANIFEST = CuscarCodec(MANIFEST)
CUSCAR_PRE_ARRIVAL = CuscarCodec(PRE_ARRIVAL)
