"""Fuzzing what the port's own systems send through the codecs: the real interchanges and
documents of tests/codecs/data with bytes cut, inserted and replaced; made-up interchanges
with random UNA service strings, segments and release characters; XML with entity
expansion, external entities and odd encodings; and JSON for the envelope decoder.

The properties: a codec returns schema-valid messages or raises ``CodecError`` with a
message; the adapters' decoders raise only ``InvalidSubmission``; what porthub writes as
EDIFACT it reads back unchanged, whatever the separators and the text.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapters.codecs import CodecError, customs_decision, edifact, get, names, smgs_xml
from adapters.common.codecs import EDIFACT, decoder
from adapters.common.submission import InvalidSubmission
from hub.schema import schemas
from hub.security import jws
from tests.codecs import DATA, data

from . import fuzz_settings
from .strategies import JSON, dumps, mutated

SAMPLES = {
    "baplie": "baplie_aktau_baku.edi",
    "coarri": "coarri_two_messages.edi",
    "coprar": "coprar_restow.edi",
    "codeco": "codeco_gate_out_baku_rail.edi",
    "cuscar-manifest": "cuscar_release_characters.edi",
    "cuscar-pre-arrival": "cuscar_pre_arrival_baku.edi",
    "iftsta": "iftsta_two_statuses.edi",
    "smgs-xml": "smgs_alat_samsun.xml",
    "customs-decision-xml": "customs_decision_baku.xml",
    "customs-decision-json": "customs_decision_held.json",
}
FILES = sorted(p.name for p in DATA.iterdir())
DECODERS = ["envelope-json", EDIFACT, *names()]


def decode(codec_name: str, blob: bytes) -> None:
    """Decode ``blob``: valid bodies or a CodecError with a sentence, nothing else."""
    try:
        decoded = get(codec_name).decode(blob)
    except CodecError as error:
        assert str(error).strip(), "a CodecError without a message"
        return
    for item in decoded:
        assert schemas().errors(item.type, item.body) is None
        as_message_json(item.body)


def submit_decode(name: str, blob: bytes) -> None:
    """The adapters' decoder ``name``: submissions or an InvalidSubmission, nothing else."""
    try:
        submissions = decoder(name)(blob)
    except InvalidSubmission as error:
        assert str(error).strip()
        return
    assert submissions
    for submission in submissions:
        as_message_json(submission.body)


def data_of(name: str) -> bytes:
    return data(name)  # the tests below call their hypothesis argument ``data``


def as_message_json(body: object) -> None:
    """``body`` can be the body of a signed message: finite numbers, Unicode text."""
    jws.strict_json(json.dumps(body, allow_nan=False, ensure_ascii=False).encode(), "body")


# -- the real samples, mutated ------------------------------------------------------------
@pytest.mark.parametrize("codec_name", SAMPLES)
@fuzz_settings()
@given(data=st.data())
def test_mutated_samples_raise_only_codec_errors(codec_name, data):
    decode(codec_name, data.draw(mutated(data_of(SAMPLES[codec_name]))))


@pytest.mark.parametrize("name", DECODERS)
@fuzz_settings(0.5)
@given(sample=st.data())
def test_every_decoder_refuses_every_mutated_file_with_invalid_submission(name, sample):
    blob = data_of(sample.draw(st.sampled_from(FILES)))
    submit_decode(name, sample.draw(st.just(blob) | mutated(blob)))


@pytest.mark.parametrize("codec_name", SAMPLES)
@fuzz_settings(0.5)
@given(blob=st.binary(max_size=200), prefixed=st.booleans())
def test_arbitrary_bytes_raise_only_codec_errors(codec_name, blob, prefixed):
    prefix = b"UNA:+.? 'UNB+UNOA:2+A+B+250312:0815+R'UNH+1+" if codec_name.islower() else b""
    decode(codec_name, (prefix if prefixed else b"") + blob)


# -- made-up interchanges -----------------------------------------------------------------
SERVICE = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\nA1\x00é"
# Unicode text (no lone surrogates: a body with one fails the schema check before any codec)
TEXT = st.text(alphabet=st.sampled_from(list(":+.?'* ABCZ09,-/\"\n\téÄЖ€"))
               | st.characters(codec="utf-8"), max_size=12)


@st.composite
def interchanges(draw: st.DrawFn) -> bytes:
    """UNA (random service characters), UNB, messages of random segments, UNZ: the counts
    right or wrong, elements with separators and release characters in them."""
    una = "".join(draw(st.lists(st.sampled_from(list(SERVICE)), min_size=6, max_size=6)))
    c, e, r, t = una[0], una[1], una[3], una[5]
    syntax = draw(st.sampled_from(["UNOA", "UNOB", "UNOC", "UNOW", "UNOY", "UNOX", "unoa"]))
    tags = st.sampled_from(["BGM", "DTM", "LOC", "EQD", "TDT", "NAD", "FTX", "RFF", "MEA",
                            "UNH", "UNT", "UNZ", "UNB", "UNG", "ZZZ", "bgm", "AB", "ABCD"])
    element = TEXT | st.lists(TEXT, min_size=1, max_size=3).map(lambda cs: c.join(cs))
    segments = [f"UNB{e}{syntax}{c}3{e}SENDER{e}RECIPIENT{e}250312{c}0815{e}REF1"]
    for number in range(draw(st.integers(0, 2))):
        body = [draw(tags) + "".join(e + draw(element) for _ in range(draw(st.integers(0, 4))))
                for _ in range(draw(st.integers(0, 5)))]
        kind = draw(st.sampled_from(["BAPLIE", "COARRI", "CODECO", "CUSCAR", "IFTSTA", "ORDERS"]))
        count = draw(st.sampled_from([len(body) + 2, len(body), 0, "\u00b2", "\u0663", "1a"]))
        segments += [f"UNH{e}{number}{e}{kind}{c}D{c}95B{c}UN", *body,
                     f"UNT{e}{count}{e}{number}"]
    segments.append(f"UNZ{e}{draw(st.integers(0, 3) | st.sampled_from(['¹', '٣']))}{e}REF1")
    if draw(st.booleans()):  # sometimes a release character before a terminator
        at = draw(st.integers(0, len(segments) - 1))
        segments[at] += r
    text = "UNA" + una + t.join(segments) + t
    return text.encode(draw(st.sampled_from(["utf-8", "latin-1"])), "replace")


@fuzz_settings()
@given(blob=interchanges())
def test_made_up_interchanges_parse_or_raise_codec_errors(blob):
    try:
        edifact.parse(blob)
    except CodecError as error:
        assert str(error).strip()
    submit_decode(EDIFACT, blob)


SEPARATORS = st.sampled_from([":+.? '", ":+,? '", "|^.\\*~", ";#.!*\"", "\x1f\x1d.\x1b*\x1c"])


@fuzz_settings()
@given(separators=SEPARATORS, line_breaks=st.booleans(),
       elements=st.lists(TEXT | st.lists(TEXT, min_size=2, max_size=3).map(tuple),
                         min_size=1, max_size=5))
def test_what_porthub_writes_it_reads_back(separators, line_breaks, elements):
    """Any element text, separators and release characters included, survives writing and
    reading an interchange."""
    segment = edifact.segment("FTX", *elements)
    assume(segment.elements)  # empty trailing elements are not written
    written = edifact.serialize(
        [edifact.OutgoingMessage(("IFTSTA", "D", "99B", "UN"), [segment])],
        sender="SENDER", recipient="RECIPIENT", reference="REF1",
        prepared=datetime(2026, 11, 28, 6, 51), separators=edifact.Separators(*separators),
        line_breaks=line_breaks)
    [message] = edifact.parse(written).messages
    [read] = message.segments

    def normal(element):  # trailing empty components are not written; one is an element
        if isinstance(element, str):
            return element
        parts = list(element)
        while len(parts) > 1 and not parts[-1]:
            parts.pop()
        return parts[0] if len(parts) == 1 else tuple(parts)

    assert tuple(map(normal, read.elements)) == tuple(map(normal, segment.elements))


# -- XML ----------------------------------------------------------------------------------
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<ConsignmentNote xmlns="urn:porthub:rail:consignment-note:1">&lol9;</ConsignmentNote>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<ConsignmentNote xmlns="urn:porthub:rail:consignment-note:1">&x;</ConsignmentNote>"""
PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>
<ConsignmentNote xmlns="urn:porthub:rail:consignment-note:1"/>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ConsignmentNote SYSTEM "http://127.0.0.1:9/smgs.dtd">
<ConsignmentNote xmlns="urn:porthub:rail:consignment-note:1"/>"""
HOSTILE = {"billion laughs": LAUGHS, "external entity": EXTERNAL,
           "parameter entity": PARAMETER, "external DTD": EXTERNAL_DTD}
ROOTS = {"smgs-xml": (smgs_xml.NAMESPACE, "ConsignmentNote"),
         "customs-decision-xml": (customs_decision.NAMESPACE, "CustomsDecision")}
XML_CODECS = list(ROOTS)


@pytest.mark.parametrize("codec_name", XML_CODECS)
@pytest.mark.parametrize("attack", HOSTILE)
def test_entity_expansion_and_external_references_are_refused_clearly(codec_name, attack):
    """Given a document with a DTD, an internal or external entity, the codec refuses it and
    says why, without expanding or fetching anything."""
    with pytest.raises(CodecError, match="DTD, an entity or an external reference"):
        get(codec_name).decode(HOSTILE[attack])


@pytest.mark.parametrize("codec_name", XML_CODECS)
def test_xinclude_is_not_followed(codec_name):
    namespace, root = ROOTS[codec_name]
    document = (f'<{root} xmlns="{namespace}" xmlns:xi="http://www.w3.org/2001/XInclude">'
                f'<xi:include href="file:///etc/passwd"/></{root}>').encode()
    with pytest.raises(CodecError, match="unknown element 'include'"):
        get(codec_name).decode(document)


ENCODINGS = ["utf-8", "UTF-16", "utf-32", "utf-7", "latin-1", "cp1252", "ascii", "idna",
             "undefined", "rot13", "hex", "unicode-escape", "x-unknown", "iso-2022-jp",
             "shift_jis", "euc-kr", "koi8-r", "cp500", "utf-8-sig", "punycode"]


@pytest.mark.parametrize("codec_name", XML_CODECS)
@fuzz_settings(0.5)
@given(data=st.data())
def test_xml_with_any_declared_encoding_and_nesting(codec_name, data):
    """Encodings expat cannot use, deep nesting, numbers Python reads but JSON does not."""
    sample = data_of(SAMPLES[codec_name])
    encoding = data.draw(st.sampled_from(ENCODINGS) | st.text(max_size=10))
    blob = sample.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode(
        "utf-8", "replace"))
    depth = data.draw(st.integers(0, 3000))
    blob = data.draw(st.sampled_from([
        blob, blob.replace(b"</", b"<x>" * depth + b"</x>" * depth + b"</", 1),
        b'<?xml version="1.0" encoding="%s"?>' % encoding.encode("utf-8", "replace")
        + b"<a>" * depth]))
    decode(codec_name, data.draw(st.just(blob) | mutated(blob)))


@fuzz_settings(0.5)
@given(value=st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "1_000", " 12 ", "0x10",
                              "\u0661\u0662", "12.5e1", "-0", "1e-400"]) | st.text(max_size=8))
def test_numbers_in_xml_are_finite_json_numbers(value):
    """A weight that float() reads but JSON cannot carry (NaN, infinity) is refused."""
    sample = data_of(SAMPLES["smgs-xml"])
    try:
        [item] = get("smgs-xml").decode(sample.replace(b'grossKg="24310"',
                                                       f'grossKg="{value}"'.encode()))
    except CodecError:
        return
    weight = item.body.get("gross_kg")
    assert weight is None or weight == weight and abs(weight) != float("inf")


# -- JSON ---------------------------------------------------------------------------------
@fuzz_settings()
@given(document=JSON.map(dumps) | st.binary(max_size=100)
       | st.integers(1, 100_000).map(lambda n: b"[" * n)
       | st.sampled_from([b'{"type":"shipment.status","body":NaN}',
                          b'{"type":"shipment.status","body":{"a":Infinity}}',
                          b'{"type":"shipment.status","body":"\\ud800"}',
                          b'{"type":"shipment.status","body":{},"ttl":1e400}']))
def test_the_json_decoders_raise_only_their_own_errors(document):
    submit_decode("envelope-json", document)
    decode("customs-decision-json", document)
