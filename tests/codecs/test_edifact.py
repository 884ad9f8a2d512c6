"""The interchange layer: UNA, release characters, character sets, envelope counts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters.codecs import CodecError
from adapters.codecs.edifact import OutgoingMessage, Separators, parse, segment, serialize

PREPARED = datetime(2025, 3, 12, 8, 15, tzinfo=timezone.utc)


def write(*segments, separators: Separators = Separators(), messages: int = 1) -> bytes:
    message = OutgoingMessage(("IFTSTA", "D", "99B", "UN"), list(segments))
    return serialize([message] * messages, sender="A", recipient="B", reference="REF1",
                     prepared=PREPARED, separators=separators)


def test_every_service_character_in_data_is_released_and_read_back() -> None:
    text = "A?B+C:D'E"
    written = write(segment("FTX", "AAI", None, None, (text, "x")))
    assert b"FTX+AAI+++A??B?+C?:D?'E:x'" in written
    [message] = parse(written).messages
    assert message.segments[0].components(3) == (text, "x")


def test_written_counts_are_what_the_reader_checks() -> None:
    written = write(segment("BGM", "23"), segment("CNI", "1"), messages=2)
    assert b"UNT+4+1'" in written and b"UNT+4+2'" in written and b"UNZ+2+REF1'" in written
    interchange = parse(written)
    assert [m.reference for m in interchange.messages] == ["1", "2"]
    assert (interchange.sender, interchange.recipient, interchange.reference) == ("A", "B",
                                                                                 "REF1")


def test_non_default_separators_are_written_in_una_and_used() -> None:
    separators = Separators.from_una("UNA|^,! ~")
    written = write(segment("FTX", "AAI", None, None, ("a^b|c~d!e",)), separators=separators)
    assert written.startswith(b"UNA|^,! ~\nUNB^UNOC|3^")
    assert b"a!^b!|c!~d!!e" in written
    assert parse(written).messages[0].segments[0].component(3) == "a^b|c~d!e"


@pytest.mark.parametrize(("text", "charset"), [
    ("COTTON YARN", b"UNOA:3"), ("Cotton yarn", b"UNOC:3"), ("Çöl İplik", b"UNOW:4"),
    ("Абшерон *1*", b"UNOW:4")])
def test_the_smallest_character_set_that_holds_the_text_is_chosen(text: str,
                                                                  charset: bytes) -> None:
    written = write(segment("FTX", "AAI", None, None, (text,)))
    assert charset in written
    if charset == b"UNOW:4":  # syntax 4: '*' is the repetition separator and is released
        assert written.startswith(b"UNA:+.?*'") and (b"?*1?*" in written or b"*" not in
                                                     text.encode())
    assert parse(written).messages[0].segments[0].component(3) == text


def test_a_byte_outside_the_declared_character_set_is_refused() -> None:
    data = "UNB+UNOA:3+A+B+250312:0815+R'UNH+1+X:D:99B:UN'FTX+AAI+++Ä'UNT+3+1'UNZ+1+R'"
    with pytest.raises(CodecError, match=r"Byte \d+ is not valid in character set UNOA"):
        parse(data.encode("latin-1"))


def test_lower_case_in_unoa_is_read_leniently() -> None:
    data = b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'FTX+AAI+++abc'UNT+3+1'UNZ+1+R'"
    assert parse(data).messages[0].segments[0].component(3) == "abc"


def test_white_space_and_a_byte_order_mark_around_segments_are_ignored() -> None:
    data = b"\xef\xbb\xbf\r\nUNB+UNOA:2+A+B+250312:0815+R'\r\nUNH+1+X:D:99B:UN'\r\nUNT+2+1'\r\n" \
           b"UNZ+1+R'\r\n\r\n"
    assert len(parse(data).messages) == 1


ENVELOPE_ERRORS = [
    (b"", "The input is empty"),
    (b"UNA:+.?", "UNA service string advice is cut short"),
    (b"UNA:+x? 'UNB", "the decimal mark must be"),
    (b"UNAA+.? 'UNB", "cannot be a letter, a digit or white space"),
    (b"UNH+1+X:D:99B:UN'UNT+2+1'", "Segment 1 must be the interchange header UNB"),
    (b"UNB+XXXX:2+A+B+250312:0815+R'", "unknown syntax identifier 'XXXX'"),
    (b"UNB+UNOA:2++B+250312:0815+R'UNZ+0+R'", "segment 1 (UNB), element 2: the sender is "
                                              "missing"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNZ+0+R'", "holds no message"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'UNT+2+7'UNZ+1+R'",
     "segment 3 (UNT), element 2: message reference '7' does not match '1'"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'UNT+2+1'UNZ+1+Q'",
     "segment 4 (UNZ), element 2: control reference 'Q' does not match 'R'"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'UNT+two+1'UNZ+1+R'",
     "segment 3 (UNT), element 1: the segment count must be a number"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'UNT+2+1'UNZ+1+R'BGM+1'",
     "segment 5 (BGM) follows the interchange trailer UNZ"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'BGM+1'UNZ+0+R'",
     "segment 2 (BGM) stands outside a message"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNG+X'UNZ+0+R'", "functional groups are not supported"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'UNH+2+X:D:99B:UN'UNT+2+2'UNZ+2+R'",
     "message '1' has no UNT trailer (found UNH at segment 3)"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'bgm+1'UNT+3+1'UNZ+1+R'",
     "segment 3: 'bgm' is not a segment tag"),
    (b"UNB+UNOA:2+A+B+250312:0815+R'UNH+1+X:D:99B:UN'FTX+AAI+++ABC?",
     "truncated: segment 3 (FTX) ends without a segment terminator"),
]


@pytest.mark.parametrize(("data", "message"), ENVELOPE_ERRORS)
def test_a_broken_envelope_is_refused_with_a_sentence_naming_the_place(data: bytes,
                                                                        message: str) -> None:
    with pytest.raises(CodecError) as error:
        parse(data)
    assert message.lower() in str(error.value).lower()


@pytest.mark.parametrize("count", ["\u00b2", "\u0663"])
def test_a_count_in_other_digits_than_ascii_is_a_codec_error(count: str) -> None:
    """Found by fuzzing: "²".isdigit() is true but int("²") raises ValueError, which escaped
    the codec; "٣" was read as 3."""
    text = ("UNA:+.? 'UNB+UNOW:4+A+B+20250312:0815+R'UNH+1+IFTSTA:D:99B:UN'BGM+23+X'"
            f"UNT+{count}+1'UNZ+1+R'")
    with pytest.raises(CodecError, match="UNT.*the segment count must be a number"):
        parse(text.encode())
