"""UN/EDIFACT interchanges: porthub's own small interface over pydifact.

pydifact does the character-level work: it splits text into segments, elements and components
and honours release characters, and its serializer escapes them again. Everything an
interchange needs beyond that is here: reading and checking the service string advice (UNA),
the character set named in UNB, the UNB/UNH/UNT/UNZ envelope with its segment and message
counts and control references, a position in every error, and writing an interchange with
correct counts. The rest of porthub only sees ``parse`` and ``serialize`` and the plain data
classes below, so the library can be replaced without touching a message family.

Positions in errors count segments from UNB = segment 1 (UNA is not a segment), and data
elements from 1 after the tag, as an implementation guide numbers them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator, Sequence

from pydifact.control import Characters
from pydifact.parser import Parser
from pydifact.segments import Segment as _LibrarySegment
from pydifact.serializer import Serializer
from pydifact.tokenizer import Tokenizer

from . import CodecError

Element = str | tuple[str, ...]

# Character sets by syntax identifier (UNB S001/0001) and the Python codec that reads them.
# UNOA and UNOB are subsets of ASCII; senders often put lower case into UNOA anyway, so
# reading is lenient and writing picks the smallest set that holds the text.
CHARSETS = {
    "UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859-2",
    "UNOE": "iso8859-5", "UNOF": "iso8859-7", "UNOG": "iso8859-3", "UNOH": "iso8859-4",
    "UNOI": "iso8859-6", "UNOJ": "iso8859-8", "UNOK": "iso8859-9", "UNOW": "utf-8",
    "UNOY": "utf-8",
}
_UNOA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")
_SEGMENT_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_LINE_ENDS = " \t\r\n"


@dataclass(frozen=True)
class Separators:
    """The six characters of the service string advice, in UNA order."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    repetition: str = " "  # "reserved" in syntax 3; repetition separator in syntax 4
    terminator: str = "'"

    @classmethod
    def from_una(cls, una: str) -> "Separators":
        """Read ``UNA:+.? '``; refuse a UNA whose characters clash or cannot work."""
        if len(una) != 9 or not una.startswith("UNA"):
            raise CodecError("The UNA service string advice is cut short: it needs six "
                             "characters after UNA.")
        chars = cls(*una[3:9])
        syntax = (chars.component, chars.element, chars.release, chars.terminator)
        if len(set(syntax)) != 4:
            raise CodecError(f"UNA {una[3:9]!r}: the component separator, element separator, "
                             "release character and segment terminator must all differ.")
        if any(c.isalnum() or c in _LINE_ENDS for c in syntax):
            raise CodecError(f"UNA {una[3:9]!r}: a separator, release character or terminator "
                             "cannot be a letter, a digit or white space.")
        if chars.decimal not in ".,":
            raise CodecError(f"UNA {una[3:9]!r}: the decimal mark must be '.' or ',', "
                             f"got {chars.decimal!r}.")
        return chars

    def una(self) -> str:
        return "UNA" + "".join((self.component, self.element, self.decimal, self.release,
                                self.repetition, self.terminator))

    def characters(self) -> Characters:
        return _Characters(self.component, self.element, self.decimal, self.release,
                           self.repetition, self.terminator)


DEFAULT_SEPARATORS = Separators()


class _Characters(Characters):
    """pydifact's control characters, also escaping a real repetition separator (syntax 4),
    which pydifact's serializer leaves alone."""

    @property
    def escaped_syntax_dic(self) -> dict[str, str]:
        escapes = dict(super().escaped_syntax_dic)
        if self.reserved_character != " ":
            escapes[self.reserved_character] = self.escape_character + self.reserved_character
        return escapes


@dataclass(frozen=True)
class Segment:
    """One segment: its tag, its data elements (a component tuple for a composite) and its
    place in the interchange (0 for a segment being built)."""

    tag: str
    elements: tuple[Element, ...] = ()
    position: int = 0

    def components(self, element: int) -> tuple[str, ...]:
        """The components of data element ``element`` (0-based); () when it is absent."""
        if element >= len(self.elements):
            return ()
        value = self.elements[element]
        return (value,) if isinstance(value, str) else value

    def component(self, element: int, component: int = 0) -> str:
        """One component (0-based indexes); "" when it is absent."""
        parts = self.components(element)
        return parts[component] if component < len(parts) else ""

    @property
    def qualifier(self) -> str:
        return self.component(0)

    def where(self, element: int | None = None) -> str:
        """"Segment 7 (EQD)", or with a 0-based element "Segment 7 (EQD), element 2"."""
        text = f"Segment {self.position} ({self.tag})"
        return text if element is None else f"{text}, element {element + 1}"


def segment(tag: str, *elements: Element | None) -> Segment:
    """A segment to write; None stands for an empty element or component, and trailing empty
    elements are dropped."""
    values = [tuple("" if c is None else c for c in e) if isinstance(e, (tuple, list))
              else ("" if e is None else e) for e in elements]
    while values and not any(values[-1]):
        values.pop()
    return Segment(tag, tuple(values))


@dataclass(frozen=True)
class Message:
    """One message between its UNH and UNT; ``segments`` are the ones in between."""

    reference: str
    type: str
    version: str
    release: str
    agency: str
    association: str
    header: Segment
    segments: tuple[Segment, ...]
    trailer: Segment

    @property
    def identifier(self) -> str:
        parts = (self.type, self.version, self.release, self.agency, self.association)
        return ":".join(p for p in parts if p)


@dataclass(frozen=True)
class Interchange:
    """A parsed interchange with its envelope checked."""

    separators: Separators
    syntax: str
    syntax_version: str
    sender: str
    recipient: str
    prepared: str
    reference: str
    header: Segment
    messages: tuple[Message, ...] = field(default=())


# --- reading -----------------------------------------------------------------------------


def parse(data: bytes) -> Interchange:
    """Parse and check one interchange; raise ``CodecError`` naming the segment at fault."""
    if not isinstance(data, (bytes, bytearray)):
        raise CodecError(f"EDIFACT input must be bytes, got {type(data).__name__}.")
    raw = bytes(data).removeprefix(b"\xef\xbb\xbf").lstrip(_LINE_ENDS.encode())
    if not raw:
        raise CodecError("The input is empty: an interchange starts with UNA or UNB.")
    separators = DEFAULT_SEPARATORS
    if raw.startswith(b"UNA"):
        separators = Separators.from_una(raw[:9].decode("latin-1"))
        raw = raw[9:].lstrip(_LINE_ENDS.encode())
    text = _decode(raw, separators)
    segments = _segments(text, separators)
    return _envelope(segments, separators)


def _decode(raw: bytes, separators: Separators) -> str:
    """Decode the bytes in the character set that UNB names."""
    head = raw[:40].decode("latin-1")
    if not head.startswith("UNB" + separators.element):
        found = head[:3] if head[:3].strip() else head[:12]
        raise CodecError(f"Segment 1 must be the interchange header UNB, found {found!r}.")
    syntax = head[4:].split(separators.component, 1)[0].split(separators.element, 1)[0]
    encoding = CHARSETS.get(syntax)
    if encoding is None:
        raise CodecError(f"Segment 1 (UNB), element 1: unknown syntax identifier {syntax!r}; "
                         f"porthub reads {', '.join(sorted(CHARSETS))}.")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise CodecError(f"Byte {error.start} is not valid in character set {syntax} "
                         f"({encoding}) that UNB declares.") from None


def _segments(text: str, separators: Separators) -> list[Segment]:
    """Split the text into segments with pydifact; check that the last one is terminated."""
    body, cut = _split_unterminated(text, separators)
    characters = separators.characters()
    parser = Parser(characters=characters)
    segments: list[Segment] = []
    try:
        raws = parser.convert_tokens_to_raw_segments(Tokenizer().get_tokens(body, characters))
        for raw in raws:
            segments.append(_segment(raw, len(segments) + 1))
    except CodecError:
        raise
    except Exception as error:  # pydifact raises several kinds on malformed input
        raise CodecError(f"Segment {len(segments) + 1} cannot be read: {error}.") from None
    if cut:
        tag = cut[:3]
        raise CodecError(f"The interchange is truncated: segment {len(segments) + 1} ({tag}) "
                         "ends without a segment terminator.")
    return segments


def _split_unterminated(text: str, separators: Separators) -> tuple[str, str]:
    """(the text up to its last unescaped terminator, whatever follows it but white space)."""
    end = len(text)
    while True:
        end = text.rfind(separators.terminator, 0, end)
        if end < 0:
            return "", text.strip(_LINE_ENDS)
        releases = len(text[:end]) - len(text[:end].rstrip(separators.release))
        if releases % 2 == 0:
            return text[:end + 1], text[end + 1:].strip(_LINE_ENDS)


def _segment(raw: list, position: int) -> Segment:
    tag = raw[0] if raw else ""
    if not isinstance(tag, str) or len(tag) != 3 or not set(tag) <= _SEGMENT_TAG_CHARS:
        shown = tag if isinstance(tag, str) else ":".join(tag)
        raise CodecError(f"Segment {position}: {shown!r} is not a segment tag "
                         "(three capital letters or digits).")
    elements = tuple(tuple(e) if isinstance(e, list) else e for e in raw[1:])
    return Segment(tag, elements, position)


def _envelope(segments: list[Segment], separators: Separators) -> Interchange:
    """Check UNB ... (UNH ... UNT)* ... UNZ with its counts and references."""
    if not segments or segments[0].tag != "UNB":
        raise CodecError("Segment 1 must be the interchange header UNB.")
    unb = segments[0]
    reference = unb.component(4)
    for index, what in ((0, "syntax identifier"), (1, "sender"), (2, "recipient"),
                        (4, "interchange control reference")):
        if not unb.component(index):
            raise CodecError(f"{unb.where(index)}: the {what} is missing.")
    messages: list[Message] = []
    index = 1
    while index < len(segments) and segments[index].tag != "UNZ":
        current = segments[index]
        if current.tag in ("UNG", "UNE"):
            raise CodecError(f"{current.where()}: functional groups are not supported; "
                             "send the messages directly in the interchange.")
        if current.tag != "UNH":
            raise CodecError(f"{current.where()} stands outside a message: expected UNH "
                             "or UNZ.")
        message, index = _message(segments, index)
        messages.append(message)
    if index >= len(segments):
        raise CodecError(f"The interchange is truncated: it ends after segment {len(segments)} "
                         f"({segments[-1].tag}) without the UNZ trailer.")
    unz = segments[index]
    if index + 1 < len(segments):
        extra = segments[index + 1]
        raise CodecError(f"{extra.where()} follows the interchange trailer UNZ.")
    declared = _count(unz, 0, "message count")
    if declared != len(messages):
        raise CodecError(f"{unz.where(0)}: UNZ counts {declared} messages but the "
                         f"interchange has {len(messages)}.")
    if unz.component(1) != reference:
        raise CodecError(f"{unz.where(1)}: control reference {unz.component(1)!r} does not "
                         f"match {reference!r} in UNB.")
    if not messages:
        raise CodecError(f"{unz.where()}: the interchange holds no message.")
    return Interchange(separators=separators, syntax=unb.component(0),
                       syntax_version=unb.component(0, 1), sender=unb.component(1),
                       recipient=unb.component(2),
                       prepared=":".join(unb.components(3)), reference=reference,
                       header=unb, messages=tuple(messages))


def _message(segments: list[Segment], start: int) -> tuple[Message, int]:
    unh = segments[start]
    reference = unh.component(0)
    if not reference:
        raise CodecError(f"{unh.where(0)}: the message reference number is missing.")
    if not unh.component(1):
        raise CodecError(f"{unh.where(1)}: the message type is missing.")
    end = start + 1
    while end < len(segments) and segments[end].tag not in ("UNT", "UNH", "UNZ"):
        end += 1
    if end >= len(segments) or segments[end].tag != "UNT":
        last = segments[min(end, len(segments)) - 1] if end >= len(segments) else segments[end]
        raise CodecError(f"{unh.where()}: message {reference!r} has no UNT trailer "
                         f"(found {last.tag} at segment {last.position}).")
    unt = segments[end]
    declared = _count(unt, 0, "segment count")
    actual = end - start + 1
    if declared != actual:
        raise CodecError(f"{unt.where(0)}: UNT counts {declared} segments but message "
                         f"{reference!r} has {actual}, counting UNH and UNT.")
    if unt.component(1) != reference:
        raise CodecError(f"{unt.where(1)}: message reference {unt.component(1)!r} does not "
                         f"match {reference!r} in UNH.")
    kind = unh.components(1)
    message = Message(reference=reference, type=kind[0],
                      version=unh.component(1, 1), release=unh.component(1, 2),
                      agency=unh.component(1, 3), association=unh.component(1, 4),
                      header=unh, segments=tuple(segments[start + 1:end]), trailer=unt)
    return message, end + 1


def _count(seg: Segment, element: int, what: str) -> int:
    value = seg.component(element)
    if not (value.isascii() and value.isdigit()):  # "²".isdigit(), but int("²") fails
        raise CodecError(f"{seg.where(element)}: the {what} must be a number, got {value!r}.")
    return int(value)


# --- writing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to write: its S009 identifier and the segments between UNH and UNT."""

    identifier: tuple[str, ...]
    segments: Sequence[Segment]


def serialize(messages: Iterable[OutgoingMessage], *, sender: str, recipient: str,
              reference: str, prepared: datetime,
              separators: Separators = DEFAULT_SEPARATORS, line_breaks: bool = True) -> bytes:
    """Write an interchange: UNA, UNB, each message with UNH/UNT counted, UNZ counted.

    The character set is the smallest that holds the text: UNOA (syntax 3) for upper-case
    text, UNOC (Latin-1, syntax 3), else UNOW (UTF-8, syntax 4, with '*' as repetition
    separator as syntax 4 requires)."""
    messages = list(messages)
    if not messages:
        raise CodecError("An interchange needs at least one message.")
    text = "".join(_texts([sender, recipient, reference], messages))
    syntax, version = _charset(text)
    if version == "4" and separators.repetition == " ":
        separators = Separators(separators.component, separators.element, separators.decimal,
                                separators.release, "*", separators.terminator)
    date = f"{prepared:%Y%m%d}" if version == "4" else f"{prepared:%y%m%d}"
    out = [segment("UNB", (syntax, version), sender, recipient, (date, f"{prepared:%H%M}"),
                   reference)]
    for number, message in enumerate(messages, 1):
        out.append(segment("UNH", str(number), tuple(message.identifier)))
        out.extend(message.segments)
        out.append(segment("UNT", str(len(message.segments) + 2), str(number)))
    out.append(segment("UNZ", str(len(messages)), reference))
    serializer = Serializer(separators.characters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # pydifact warns on element-less tags
        library = [_LibrarySegment(s.tag, *[list(e) if isinstance(e, tuple) else e
                                            for e in s.elements]) for s in out]
    return serializer.serialize(library, with_una_header=True,
                                break_lines=line_breaks).encode(CHARSETS[syntax])


def _texts(head: list[str], messages: list[OutgoingMessage]) -> Iterator[str]:
    yield from head
    for message in messages:
        yield from message.identifier
        for seg in message.segments:
            for element in seg.elements:
                yield from ((element,) if isinstance(element, str) else element)


def _charset(text: str) -> tuple[str, str]:
    if set(text) <= _UNOA:
        return "UNOA", "3"
    try:
        text.encode("latin-1")
        return "UNOC", "3"
    except UnicodeEncodeError:
        return "UNOW", "4"
