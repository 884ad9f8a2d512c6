"""Reading and writing the small XML documents of the XML codecs, safely.

Parsing goes through defusedxml: a document with a DTD, an entity declaration or an external
reference is refused, so neither entity expansion ("billion laughs") nor a reference to a
local file can reach the hub. Documents are strict: one namespace, known elements and
attributes only, and every error names the element by its path.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from typing import Iterable

import defusedxml
import defusedxml.ElementTree as SafeET

from hub import identifiers

from . import CodecError

_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_IDENTIFIERS = {
    "container": (identifiers.is_container_number,
                  "an ISO 6346 container number with a valid check digit"),
    "locode": (identifiers.is_unlocode, "a UN/LOCODE (e.g. AZBAK)"),
}


def identifier(value: str | None, kind: str, where: str) -> str | None:
    """Check a container number or UN/LOCODE where it is read, naming the element."""
    check, what = _IDENTIFIERS[kind]
    if value is not None and not check(value):
        raise CodecError(f"{where}: {value!r} is not {what}.")
    return value


class Reader:
    """Typed access to one element of a document in ``namespace``; ``path`` is for errors."""

    def __init__(self, element: ET.Element, namespace: str, path: str) -> None:
        self.element, self.namespace, self.path = element, namespace, path

    def attribute(self, name: str, required: bool = False) -> str | None:
        value = self.element.get(name)
        if value is None or not value.strip():
            if required:
                raise CodecError(f"{self.path}: attribute {name!r} is missing.")
            return None
        return value.strip()

    def children(self, name: str) -> list["Reader"]:
        found = self.element.findall(f"{{{self.namespace}}}{name}")
        return [Reader(e, self.namespace, f"{self.path}/{name}[{i}]")
                for i, e in enumerate(found, 1)]

    def child(self, name: str, required: bool = False) -> "Reader | None":
        found = self.children(name)
        if len(found) > 1:
            raise CodecError(f"{self.path}: element {name!r} may stand only once.")
        if not found and required:
            raise CodecError(f"{self.path}: element {name!r} is missing.")
        if found:
            found[0].path = f"{self.path}/{name}"
        return found[0] if found else None

    def text(self, required: bool = False) -> str | None:
        value = (self.element.text or "").strip()
        if not value and required:
            raise CodecError(f"{self.path}: the element is empty.")
        return value or None

    def child_text(self, name: str, required: bool = False) -> str | None:
        found = self.child(name, required)
        return found.text(required) if found else None

    def number(self, name: str) -> int | float | None:
        text = self.attribute(name)
        if text is None:
            return None
        value = float(text) if _NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(value):  # float() also reads nan, inf, 1_000 and 1e400
            raise CodecError(f"{self.path}: attribute {name!r} is not a number: {text!r}.")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value

    def only(self, elements: Iterable[str], attributes: Iterable[str] = ()) -> None:
        """Refuse unknown child elements and attributes, so a typo does not go unnoticed."""
        known = {f"{{{self.namespace}}}{e}" for e in elements}
        for child in self.element:
            if child.tag not in known:
                raise CodecError(f"{self.path}: unknown element {_local(child.tag)!r}.")
        extra = set(self.element.attrib) - set(attributes)
        if extra:
            raise CodecError(f"{self.path}: unknown attribute {sorted(extra)[0]!r}.")


def read(data: bytes, namespace: str, root: str) -> Reader:
    """Parse ``data`` and check that its root is ``root`` in ``namespace``."""
    if not isinstance(data, (bytes, bytearray)):
        raise CodecError(f"XML input must be bytes, got {type(data).__name__}.")
    try:
        element = SafeET.fromstring(bytes(data), forbid_dtd=True, forbid_entities=True,
                                    forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise CodecError(f"The XML document is refused: it declares a DTD, an entity or an "
                         f"external reference ({type(error).__name__}).") from None
    except LookupError as error:  # expat looks the declared encoding up in Python's codecs
        raise CodecError(f"The XML declaration names an encoding Python does not know: "
                         f"{error}.") from None
    except ValueError as error:  # one expat cannot use: multi-byte (utf-7), or not text (idna)
        raise CodecError(f"The XML declaration names an encoding the XML parser cannot "
                         f"read: {error}.") from None
    except ET.ParseError as error:
        line, column = error.position
        raise CodecError(f"The XML document is not well-formed at line {line}, column "
                         f"{column + 1}: {str(error).split(':')[0]}.") from None
    expected = f"{{{namespace}}}{root}"
    if element.tag != expected:
        raise CodecError(f"The root element is {element.tag!r}; expected {root!r} in "
                         f"namespace {namespace!r}.")
    return Reader(element, namespace, root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class Writer:
    """Builds a document whose elements are all in one namespace, the default one."""

    def __init__(self, namespace: str, root: str, **attributes: object) -> None:
        # Plain tags under an xmlns attribute: ElementTree's default_namespace option refuses
        # unqualified attributes, and this writes the same document.
        self.root = ET.Element(root, {"xmlns": namespace, **_attributes(attributes)})

    def add(self, name: str, text: object = None, parent: ET.Element | None = None,
            **attributes: object) -> ET.Element:
        element = ET.SubElement(self.root if parent is None else parent, name,
                                _attributes(attributes))
        if text is not None:
            element.text = str(text)
        return element

    def bytes(self) -> bytes:
        ET.indent(self.root)
        return ET.tostring(self.root, encoding="utf-8", xml_declaration=True) + b"\n"


def _attributes(values: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}
