"""What the EDIFACT message families share: the decode and encode frame, and the segments that
carry the same canonical fields in every family (DTM, LOC, TDT, EQD, MEA, RFF, NAD, FTX).

Families find segments by tag and qualifier inside a group rather than by their place, so a
sender may order the segments of a group as the standard allows and leave out optional ones.
Every value that becomes a canonical identifier is checked where it is read, so the error names
the segment and element.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from hub import identifiers

from . import CodecError, Context, Decoded, check_body, put
from .edifact import Interchange, Message, OutgoingMessage, Segment, Separators, parse, \
    segment, serialize


class EdifactCodec:
    """One message family: ``read`` turns a parsed message into canonical bodies, ``write``
    turns one body into the segments between UNH and UNT. Subclasses set the class fields."""

    name: str
    types: tuple[str, ...]  # canonical types read and written
    reads: tuple[str, ...]  # UNH message types accepted
    identifier: tuple[str, ...]  # UNH S009 written

    def decode(self, data: bytes) -> list[Decoded]:
        interchange = parse(data)
        decoded = []
        for message in interchange.messages:
            if message.type not in self.reads:
                raise CodecError(f"{message.header.where(1)}: message type {message.type!r} "
                                 f"is not read by the {self.name} codec, which reads "
                                 f"{', '.join(self.reads)}.")
            for item, at in self.read(interchange, message):
                check_body(item.type, item.body, at.where())
                decoded.append(item)
        return decoded

    def encode(self, type: str, body: dict[str, Any], context: Context) -> bytes:
        if type not in self.types:
            raise CodecError(f"The {self.name} codec writes {', '.join(self.types)}, "
                             f"not {type!r}.")
        check_body(type, body)
        separators = Separators.from_una("UNA" + context.separators)
        prepared = context.prepared or datetime.now(timezone.utc)
        segments = self.write(type, body, context, separators.decimal)
        return serialize([OutgoingMessage(self.identifier, segments)],
                         sender=context.sender, recipient=context.recipient,
                         reference=context.reference or f"{prepared:%y%m%d%H%M%S}",
                         prepared=prepared, separators=separators,
                         line_breaks=context.line_breaks)

    def read(self, interchange: Interchange,
             message: Message) -> Iterator[tuple[Decoded, Segment]]:
        """Yield each body with the segment that starts the part it came from."""
        raise NotImplementedError

    def write(self, type: str, body: dict[str, Any], context: Context,
              decimal: str) -> list[Segment]:
        raise NotImplementedError


# --- finding segments ----------------------------------------------------------------------


def first(segments: Sequence[Segment], tag: str, *qualifiers: str) -> Segment | None:
    """The first segment with ``tag`` whose first component is one of ``qualifiers`` (any
    when none are given)."""
    return next((s for s in segments
                 if s.tag == tag and (not qualifiers or s.qualifier in qualifiers)), None)


def need(segments: Sequence[Segment], tag: str, qualifier: str | None, what: str,
         scope: Segment) -> Segment:
    """Like ``first``, but a missing segment is an error that names the part searched."""
    found = first(segments, tag, *([qualifier] if qualifier else []))
    if found is None:
        wanted = f"{tag}+{qualifier}" if qualifier else tag
        raise CodecError(f"{scope.where()}: no {wanted} ({what}) in the part that starts here.")
    return found


def groups(segments: Sequence[Segment], tag: str,
           qualifier: str | None = None) -> tuple[list[Segment], list[list[Segment]]]:
    """Split at each ``tag`` (with ``qualifier``): the segments before the first one, and a
    list per group, each starting with its trigger segment."""
    head: list[Segment] = []
    parts: list[list[Segment]] = []
    for seg in segments:
        if seg.tag == tag and (qualifier is None or seg.qualifier == qualifier):
            parts.append([seg])
        elif parts:
            parts[-1].append(seg)
        else:
            head.append(seg)
    return head, parts


def single(values: Sequence[str | None]) -> str | None:
    """The one distinct value, or None: a message about one shipment has one correlation."""
    distinct = {v for v in values if v}
    return distinct.pop() if len(distinct) == 1 else None


# --- values --------------------------------------------------------------------------------

_DATE_FORMATS = {"102": "%Y%m%d", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S"}
_FORMAT_BY_LENGTH = {8: "102", 12: "203", 14: "204"}


def when(dtm: Segment) -> str:
    """DTM C507 as an RFC 3339 UTC time. EDIFACT times carry no zone; porthub's partners send
    UTC (formats 102, 203 and 204)."""
    value, code = dtm.component(0, 1), dtm.component(0, 2)
    code = code or _FORMAT_BY_LENGTH.get(len(value), "")
    pattern = _DATE_FORMATS.get(code)
    if pattern is None:
        raise CodecError(f"{dtm.where(0)}: date/time format {code!r} is not one porthub "
                         "reads (102, 203 or 204).")
    try:
        moment = datetime.strptime(value, pattern) if value.isdigit() else None
    except ValueError:
        moment = None
    if moment is None or len(value) != len(f"{datetime(2000, 1, 1):{pattern}}"):
        raise CodecError(f"{dtm.where(0)}: {value!r} is not a date/time in format {code}.")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dtm(qualifier: str, moment: str) -> Segment:
    """DTM with format 203, or 204 when there are seconds; the time is written in UTC."""
    at = datetime.fromisoformat(moment).astimezone(timezone.utc)
    code = "204" if at.second else "203"
    return segment("DTM", (qualifier, at.strftime(_DATE_FORMATS[code]), code))


def number(seg: Segment, element: int, component: int) -> int | float:
    text = seg.component(element, component)
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = None
    if value is None or not text or value != value or value in (float("inf"), float("-inf")):
        raise CodecError(f"{seg.where(element)}: {text!r} is not a number.")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def number_text(value: int | float, decimal: str) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value)).replace(".",
                                                                                        decimal)


def locode(seg: Segment, element: int = 1) -> str:
    value = seg.component(element)
    if not identifiers.is_unlocode(value):
        raise CodecError(f"{seg.where(element)}: {value!r} is not a UN/LOCODE (a country code "
                         "and three letters or digits, e.g. AZBAK).")
    return value


def locode_at(segments: Sequence[Segment], *qualifiers: str) -> str | None:
    """The UN/LOCODE of the first LOC with one of ``qualifiers``; None if it has none."""
    found = first(segments, "LOC", *qualifiers)
    return locode(found) if found and found.component(1) else None


def loc(qualifier: str, code: str | None, *, coded: bool = True,
        related: tuple[str, ...] | None = None) -> list[Segment]:
    """LOC with a UN/LOCODE (code list 139, agency 6); none when there is neither a code nor
    a related place."""
    if not code and not related:
        return []
    place = (code, "139", "6") if coded and code else code
    return [segment("LOC", qualifier, place, related)]


def container(eqd: Segment) -> str:
    """The container number of EQD+CN."""
    if eqd.qualifier != "CN":
        raise CodecError(f"{eqd.where(0)}: equipment type {eqd.qualifier!r} is not a "
                         "container (CN).")
    return container_number(eqd, 1)


def container_number(seg: Segment, element: int) -> str:
    value = seg.component(element)
    if not identifiers.is_container_number(value):
        shaped = len(value) == 11 and value[:4].isalpha() and value[4:].isdigit()
        why = "its check digit is wrong" if shaped else "it is not four letters and seven digits"
        raise CodecError(f"{seg.where(element)}: {value!r} is not an ISO 6346 container number: "
                         f"{why}.")
    return value


def full(eqd: Segment) -> bool | None:
    """EQD full/empty indicator (8169): 5 full, 4 empty."""
    return {"5": True, "4": False}.get(eqd.component(5))


def eqd(number: str, size_type: str | None, *, status: str | None = None,
        full: bool | None = None, coded: bool = True) -> Segment:
    kind = (size_type, "102", "5") if coded and size_type else size_type
    indicator = None if full is None else ("5" if full else "4")
    return segment("EQD", "CN", number, kind, None, status, indicator)


def vessel(tdt: Segment) -> dict[str, Any]:
    """TDT C222 (IMO number with code list 146, and name) and C040 (carrier) as a vessel."""
    ident, kind, name = tdt.component(7), tdt.component(7, 1), tdt.component(7, 3)
    if kind == "103":
        raise CodecError(f"{tdt.where(7)}: the vessel is identified by call sign {ident!r} "
                         "only; porthub needs its IMO number (code list 146).")
    if not identifiers.is_imo_number(ident):
        raise CodecError(f"{tdt.where(7)}: {ident!r} is not an IMO number (seven digits, the "
                         "last a check digit).")
    if not name:
        raise CodecError(f"{tdt.where(7)}: the vessel name is missing.")
    body = {"imo": ident, "name": name}
    put(body, "operator", tdt.component(4))
    return body


def tdt(voyage: str, ship: dict[str, Any], mode: str | None = None) -> Segment:
    operator = ship.get("operator")
    return segment("TDT", "20", voyage, mode, None, (operator, "172", "20") if operator else None,
                   None, None, (ship["imo"], "146", "11", ship["name"]))


_WEIGHT_UNITS = {"KGM": 1, "TNE": 1000}


def weight(segments: Sequence[Segment]) -> int | float | None:
    """Gross or verified gross mass from MEA+WT/VGM or MEA+AAE+G/VGM, in kilograms."""
    for mea in segments:
        if mea.tag == "MEA" and (mea.qualifier in ("WT", "VGM") or (
                mea.qualifier == "AAE" and mea.component(1) in ("G", "VGM"))):
            unit = mea.component(2)
            if unit not in _WEIGHT_UNITS:
                raise CodecError(f"{mea.where(2)}: weight unit {unit!r} is not KGM or TNE.")
            value = round(number(mea, 2, 1) * _WEIGHT_UNITS[unit], 3)  # to the gram
            return int(value) if float(value).is_integer() else value
    return None


def mea(qualifier: str, attribute: str | None, kilograms: int | float | None,
        decimal: str) -> list[Segment]:
    if kilograms is None:
        return []
    return [segment("MEA", qualifier, attribute, ("KGM", number_text(kilograms, decimal)))]


def reference(segments: Sequence[Segment], qualifier: str) -> str | None:
    found = first(segments, "RFF", qualifier)
    return found.component(0, 1) or None if found else None


def rff(qualifier: str, value: str | None) -> list[Segment]:
    return [segment("RFF", (qualifier, value))] if value else []


def party(nad: Segment | None) -> dict[str, Any] | None:
    """NAD with a structured name (C080) as a canonical party; None without a name."""
    if nad is None:
        return None
    name = " ".join(c for c in nad.components(3) if c)
    if not name:
        return None
    body = {"name": name}
    put(body, "code", nad.component(1))
    put(body, "country", nad.component(8))
    return body


def nad(qualifier: str, who: dict[str, Any] | None) -> list[Segment]:
    if not who:
        return []
    return [segment("NAD", qualifier, who.get("code"), None, tuple(_lines(who["name"], 35)),
                    None, None, None, None, who.get("country"))]


def free_text(ftx: Segment | None) -> str | None:
    """FTX C108: up to five lines of text, joined with a space."""
    return " ".join(c for c in ftx.components(3) if c) or None if ftx else None


def ftx(qualifier: str, text: str | None) -> list[Segment]:
    return [segment("FTX", qualifier, None, None, tuple(_lines(text, 70)))] if text else []


def _lines(text: str, width: int) -> list[str]:
    """Split at spaces into components of at most ``width`` characters."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [text]


def handling(unit: list[Segment], head: list[Segment], interchange: Interchange,
             time_qualifier: str, what: str) -> dict[str, Any]:
    """What every per-container terminal report (COARRI, COPRAR, CODECO) says of a container
    group that starts with its EQD: terminal, container, when (DTM ``time_qualifier``) and
    port. LOC+165 may stand in the group or in the head; its related place is the terminal
    (e.g. BAKT:TER:ZZZ), else the interchange sender is."""
    equipment, scope = unit[0], unit + head
    place = first(scope, "LOC", "165")
    body = {"terminal": (place.component(2) if place else "") or interchange.sender,
            "container": container(equipment),
            "at": when(need(unit, "DTM", time_qualifier, what, equipment))}
    put(body, "port", locode_at(scope, "165"))
    return body


def terminal_place(body: dict[str, Any]) -> list[Segment]:
    """LOC+165 with the port and the terminal as its related place."""
    return loc("165", body.get("port"), related=(body["terminal"], "TER", "ZZZ"))


def stowage(position: str) -> Segment:
    """LOC+147 with an ISO 9711 stowage cell (BBBRRTT, code list agency 5)."""
    return segment("LOC", "147", (position, None, "5"))
