"""A customs decision in XML or JSON ↔ ``customs.decision``.

Both formats carry the same fields under the same names, so one table maps them::

    <CustomsDecision xmlns="urn:porthub:customs:decision:1"
                     declaration="AZ-BAK-2025-000871" decision="released"
                     decidedAt="2025-03-13T19:02:00Z">
      <Authority>State Customs Committee</Authority>
      <BillOfLading>AKTBAK250001</BillOfLading>   <!-- optional, also the correlation id -->
      <Reason>documents complete</Reason>          <!-- optional -->
      <Container>CSPU1234567</Container>          <!-- none or more -->
    </CustomsDecision>

    {"declaration": "AZ-BAK-2025-000871", "decision": "released",
     "decidedAt": "2025-03-13T19:02:00Z", "authority": "State Customs Committee",
     "billOfLading": "AKTBAK250001", "containers": ["CSPU1234567"],
     "reason": "documents complete"}

``decision`` is one of released, held, inspection, rejected. Decoding accepts either format
(a document starting with ``{`` is JSON); encoding writes the codec's format.
"""

from __future__ import annotations

import json
from typing import Any

from hub import jsontext

from . import CodecError, Context, Decoded, check_body, put
from .xmldoc import Writer, identifier, read

TYPE = "customs.decision"
NAMESPACE = "urn:porthub:customs:decision:1"
# canonical field, XML attribute (a) or element (e), JSON key
_FIELDS = (("declaration_ref", "a", "declaration"), ("decision", "a", "decision"),
           ("decided_at", "a", "decidedAt"), ("authority", "e", "Authority"),
           ("bill_of_lading", "e", "BillOfLading"), ("reason", "e", "Reason"))
_JSON_KEYS = {key[0].lower() + key[1:]: field for field, _, key in _FIELDS}
_CONTAINERS = ("Container", "containers")


class CustomsDecisionCodec:
    types = (TYPE,)

    def __init__(self, format: str) -> None:
        self.format = format
        self.name = f"customs-decision-{format}"

    def decode(self, data: bytes) -> list[Decoded]:
        if not isinstance(data, (bytes, bytearray)):
            raise CodecError(f"Input must be bytes, got {type(data).__name__}.")
        stripped = bytes(data).lstrip(b"\xef\xbb\xbf \t\r\n")
        body, where = _from_json(stripped) if stripped[:1] == b"{" else _from_xml(stripped)
        check_body(TYPE, body, where)
        return [Decoded(TYPE, body, body.get("bill_of_lading"))]

    def encode(self, type: str, body: dict[str, Any], context: Context) -> bytes:
        if type != TYPE:
            raise CodecError(f"The {self.name} codec writes {TYPE}, not {type!r}.")
        check_body(TYPE, body)
        if self.format == "json":
            document: dict[str, Any] = {}
            for key, field in _JSON_KEYS.items():
                put(document, key, body.get(field))
            put(document, _CONTAINERS[1], body.get("containers"))
            return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"
        attributes = {name: body.get(field) for field, kind, name in _FIELDS if kind == "a"}
        doc = Writer(NAMESPACE, "CustomsDecision", **attributes)
        for field, kind, name in _FIELDS:
            if kind == "e" and field in body:
                doc.add(name, body[field])
        for number in body.get("containers", ()):
            doc.add(_CONTAINERS[0], number)
        return doc.bytes()


def _from_xml(data: bytes) -> tuple[dict[str, Any], str]:
    root = read(data, NAMESPACE, "CustomsDecision")
    root.only([n for _, k, n in _FIELDS if k == "e"] + [_CONTAINERS[0]],
              [n for _, k, n in _FIELDS if k == "a"])
    body: dict[str, Any] = {}
    for field, kind, name in _FIELDS:
        put(body, field, root.attribute(name) if kind == "a" else root.child_text(name))
    containers = [identifier(c.text(required=True), "container", c.path)
                  for c in root.children(_CONTAINERS[0])]
    put(body, "containers", containers or None)
    return body, root.path


def _from_json(data: bytes) -> tuple[dict[str, Any], str]:
    try:
        document = jsontext.loads(data)
    except ValueError as error:  # also NaN, a duplicate key, a lone surrogate, too deep
        where = (f" at line {error.lineno}, column {error.colno}"
                 if isinstance(error, json.JSONDecodeError) else "")
        raise CodecError(f"The JSON document cannot be read{where}: "
                         f"{getattr(error, 'msg', error)}.") from None
    if not isinstance(document, dict):
        raise CodecError("The JSON document must be an object.")
    body: dict[str, Any] = {}
    for key, value in document.items():
        field = _JSON_KEYS.get(key)
        if key == _CONTAINERS[1]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise CodecError(f"JSON key {key!r} must be a list of container numbers.")
            for index, number in enumerate(value):
                identifier(number, "container", f"JSON {key}[{index}]")
            field = "containers"
        elif field is None:
            raise CodecError(f"Unknown JSON key {key!r}; known: "
                             f"{', '.join([*_JSON_KEYS, _CONTAINERS[1]])}.")
        elif not isinstance(value, str):
            raise CodecError(f"JSON key {key!r} must be a string, got {type(value).__name__}.")
        put(body, field, value)
    return body, "JSON document"


CUSTOMS_DECISION_XML = CustomsDecisionCodec("xml")
CUSTOMS_DECISION_JSON = CustomsDecisionCodec("json")
