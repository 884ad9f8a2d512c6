"""A CIM/SMGS rail consignment note in XML ↔ ``rail.consignment``.

The railways of the corridor exchange the common CIM/SMGS consignment note; porthub reads and
writes it as this small document (namespace ``urn:porthub:rail:consignment-note:1``)::

    <ConsignmentNote xmlns="urn:porthub:rail:consignment-note:1"
                     number="SMGS-ADY-250313-0042" convention="CIM/SMGS">
      <BillOfLading>AKTBAK250001</BillOfLading>        <!-- optional: the shipment -->
      <Departure station="Alat" locode="AZBAK"/>       <!-- locode optional -->
      <Destination station="Samsun" locode="TRSSX"/>
      <Shipper code="..." country="AZ">name</Shipper>  <!-- optional, as Consignee -->
      <Consignee code="..." country="TR">name</Consignee>
      <Wagon>59570012345</Wagon>                       <!-- optional -->
      <Container>CSPU1234567</Container>               <!-- one or more -->
      <Goods grossKg="24310">Cotton yarn</Goods>       <!-- optional, text and weight too -->
    </ConsignmentNote>

``convention`` is CIM, SMGS or CIM/SMGS. The bill of lading is not part of the canonical
consignment: it is read as the correlation id and written from the encoding context.
"""

from __future__ import annotations

from typing import Any

from . import CodecError, Context, Decoded, check_body, put
from .xmldoc import Reader, Writer, identifier, read

TYPE = "rail.consignment"
NAMESPACE = "urn:porthub:rail:consignment-note:1"
_ELEMENTS = ("BillOfLading", "Departure", "Destination", "Shipper", "Consignee", "Wagon",
             "Container", "Goods")
_ENDS = (("Departure", "from"), ("Destination", "to"))
_PARTIES = (("Shipper", "shipper"), ("Consignee", "consignee"))


class SmgsXmlCodec:
    name = "smgs-xml"
    types = (TYPE,)

    def decode(self, data: bytes) -> list[Decoded]:
        note = read(data, NAMESPACE, "ConsignmentNote")
        note.only(_ELEMENTS, ("number", "convention"))
        body: dict[str, Any] = {"consignment_note": note.attribute("number", required=True),
                                "convention": note.attribute("convention", required=True)}
        for element, prefix in _ENDS:
            end = note.child(element, required=True)
            end.only((), ("station", "locode"))
            body[f"{prefix}_station"] = end.attribute("station", required=True)
            put(body, f"{prefix}_locode",
                identifier(end.attribute("locode"), "locode", f"{end.path}/@locode"))
        for element, key in _PARTIES:
            put(body, key, _party(note.child(element)))
        put(body, "wagon", note.child_text("Wagon"))
        body["containers"] = [identifier(c.text(required=True), "container", c.path)
                              for c in note.children("Container")]
        if not body["containers"]:
            raise CodecError(f"{note.path}: the consignment note names no Container.")
        goods = note.child("Goods")
        if goods is not None:
            goods.only((), ("grossKg",))
            put(body, "gross_kg", goods.number("grossKg"))
            put(body, "goods", goods.text())
        check_body(TYPE, body, note.path)
        return [Decoded(TYPE, body, note.child_text("BillOfLading"))]

    def encode(self, type: str, body: dict[str, Any], context: Context) -> bytes:
        if type != TYPE:
            raise CodecError(f"The {self.name} codec writes {TYPE}, not {type!r}.")
        check_body(TYPE, body)
        doc = Writer(NAMESPACE, "ConsignmentNote", number=body["consignment_note"],
                     convention=body["convention"])
        if context.correlation_id:
            doc.add("BillOfLading", context.correlation_id)
        for element, prefix in _ENDS:
            doc.add(element, station=body[f"{prefix}_station"], locode=body.get(f"{prefix}_locode"))
        for element, key in _PARTIES:
            if key in body:
                party = body[key]
                doc.add(element, party["name"], code=party.get("code"),
                        country=party.get("country"))
        if "wagon" in body:
            doc.add("Wagon", body["wagon"])
        for number in body["containers"]:
            doc.add("Container", number)
        if "goods" in body or "gross_kg" in body:
            doc.add("Goods", body.get("goods"), grossKg=body.get("gross_kg"))
        return doc.bytes()


def _party(element: Reader | None) -> dict[str, Any] | None:
    if element is None:
        return None
    element.only((), ("code", "country"))
    party = {"name": element.text(required=True)}
    put(party, "code", element.attribute("code"))
    put(party, "country", element.attribute("country"))
    return party


SMGS_XML = SmgsXmlCodec()
