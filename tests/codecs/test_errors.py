"""Bad input is refused with a CodecError whose sentence names the problem and its place; bad
identifiers are refused where they are read; bodies that are not valid are not written."""

from __future__ import annotations

import pytest

from adapters.codecs import CodecError, Context, get, names
from adapters.codecs.iftsta import IftstaCodec

from . import data
from tests.core.bodies import BAYPLAN, CONSIGNMENT, DECISION, STATUS

def refusal(codec_name: str, blob: bytes) -> str:
    """The sentence of the CodecError that decoding ``blob`` raises."""
    with pytest.raises(CodecError) as error:
        get(codec_name).decode(blob)
    return str(error.value)


MALFORMED = [
    ("baplie", "bad_unt_count.edi",
     "Segment 17 (UNT), element 1: UNT counts 15 segments but message '1' has 16"),
    ("coarri", "bad_unz_count.edi",
     "Segment 17 (UNZ), element 1: UNZ counts 2 messages but the interchange has 1"),
    ("cuscar-manifest", "truncated_mid_segment.edi",
     "truncated: segment 17 (MEA) ends without a segment terminator"),
    ("iftsta", "truncated_no_unz.edi",
     "truncated: it ends after segment 11 (UNT) without the UNZ trailer"),
    ("iftsta", "bad_una.edi", "must all differ"),
    ("baplie", "unknown_message_type.edi",
     "Segment 2 (UNH), element 2: message type 'IFTMIN' is not read by the baplie codec"),
    ("iftsta", "bad_date.edi",
     "Segment 8 (DTM), element 1: '2025031608X5' is not a date/time in format 203"),
    ("coarri", "iftsta_rail_status_ady.edi", "message type 'IFTSTA' is not read by the coarri"),
]


@pytest.mark.parametrize(("codec_name", "file", "message"), MALFORMED)
def test_malformed_input_is_refused_naming_segment_and_problem(codec_name: str, file: str,
                                                               message: str) -> None:
    assert message.lower() in refusal(codec_name, data(file)).lower()


IDENTIFIERS = [
    ("codeco", "bad_container_check_digit.edi",
     "Segment 6 (EQD), element 2: 'CSPU1234568' is not an ISO 6346 container number: its "
     "check digit is wrong"),
    ("baplie", "bad_imo.edi", "Segment 5 (TDT), element 8: '9123454' is not an IMO number"),
    ("coarri", "bad_locode.edi", "Segment 5 (LOC), element 2: 'KZA1U' is not a UN/LOCODE"),
    ("smgs-xml", "smgs_bad_container.xml",
     "ConsignmentNote/Container[1]: 'CSPU1234568' is not an ISO 6346 container number"),
    ("smgs-xml", "smgs_bad_locode.xml",
     "ConsignmentNote/Destination/@locode: 'TR-SSX' is not a UN/LOCODE"),
    ("customs-decision-json", "customs_decision_bad_container.json",
     "JSON containers[0]: 'CSPU1234568' is not an ISO 6346 container number"),
]


@pytest.mark.parametrize(("codec_name", "file", "message"), IDENTIFIERS)
def test_an_invalid_identifier_is_refused_where_it_is_read(codec_name: str, file: str,
                                                           message: str) -> None:
    assert message in refusal(codec_name, data(file))


def test_a_vessel_known_only_by_call_sign_is_refused() -> None:
    text = data("baplie_aktau_baku.edi").replace(b"9123453:146:11", b"UAVM:103:ZZZ")
    with pytest.raises(CodecError, match="identified by call sign 'UAVM' only"):
        get("baplie").decode(text)


def test_a_value_of_the_wrong_type_is_refused() -> None:
    text = data("baplie_aktau_baku.edi").replace(b"KGM:24310", b"KGM:24 t")
    with pytest.raises(CodecError, match=r"Segment 11 \(MEA\), element 3: '24 t' is not a number"):
        get("baplie").decode(text)


def test_a_missing_mandatory_part_is_named() -> None:
    text = data("coarri_load_aktau.edi").replace(b"DTM+203:202503120540:203'\n", b"") \
        .replace(b"UNT+15+2", b"UNT+14+2")
    with pytest.raises(CodecError, match=r"Segment 7 \(EQD\): no DTM\+203 \(when the move was "
                                         r"done\) in the part that starts here"):
        get("coarri").decode(text)


def test_a_body_that_the_schema_refuses_is_a_codec_error_naming_the_field() -> None:
    text = data("cuscar_pre_arrival_baku.edi").replace(b"FTX+AAA+++RAW COTTON, NOT CARDED OR "
                                                       b"COMBED'\n", b"") \
        .replace(b"UNT+18+3", b"UNT+17+3")
    with pytest.raises(CodecError, match="cargo.manifest read from it is not valid: "
                                         "consignments/0: 'goods' is a required property"):
        get("cuscar-manifest").decode(text)


XML_ERRORS = [
    ("smgs-xml", "smgs_dtd_entities.xml", "refused: it declares a DTD"),
    ("customs-decision-json", "customs_decision_malformed.json",
     "The JSON document cannot be read at line 2, column 38"),
]


@pytest.mark.parametrize(("codec_name", "file", "message"), XML_ERRORS)
def test_unsafe_or_malformed_documents_are_refused(codec_name: str, file: str,
                                                   message: str) -> None:
    assert message in refusal(codec_name, data(file))


@pytest.mark.parametrize(("document", "message"), [
    (b"<ConsignmentNote number='1' convention='SMGS'/>", "expected 'ConsignmentNote' in "
                                                          "namespace"),
    (b"<ConsignmentNote xmlns='urn:porthub:rail:consignment-note:1' number='1' "
     b"convention='SMGS'><Departure station='A'/><Destination station='B'/><Container>"
     b"CSPU1234567</Container><Wagons>1</Wagons></ConsignmentNote>",
     "ConsignmentNote: unknown element 'Wagons'"),
    (b"<ConsignmentNote xmlns='urn:porthub:rail:consignment-note:1' number='1' "
     b"convention='SMGS'><Departure station='A'/><Destination station='B'/>"
     b"</ConsignmentNote>", "names no Container"),
    (b"<ConsignmentNote xmlns='urn:porthub:rail:consignment-note:1' number='1' "
     b"convention='SMGS'><Departure/><Destination station='B'/></ConsignmentNote>",
     "ConsignmentNote/Departure: attribute 'station' is missing"),
    (b"<ConsignmentNote xmlns='urn:porthub:rail:consignment-note:1' number='1' "
     b"convention='RID'><Departure station='A'/><Destination station='B'/><Container>"
     b"CSPU1234567</Container></ConsignmentNote>", "convention: 'RID' is not one of"),
    (b"<ConsignmentNote xmlns='urn:porthub:rail:consignment-note:1'><unclosed>",
     "not well-formed at line 1"),
])
def test_a_consignment_note_that_breaks_the_format_is_refused(document: bytes,
                                                              message: str) -> None:
    assert message in refusal("smgs-xml", document)


def test_an_unknown_json_key_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(CodecError, match="Unknown JSON key 'decison'; known: declaration"):
        get("customs-decision-json").decode(b'{"decison": "released"}')


def test_an_external_entity_is_refused() -> None:
    document = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<CustomsDecision xmlns="urn:porthub:customs:decision:1">&x;</CustomsDecision>')
    with pytest.raises(CodecError, match="refused"):
        get("customs-decision-xml").decode(document)


@pytest.mark.parametrize("encoding", ["utf-7", "utf-32", "idna", "undefined"])
def test_an_encoding_the_xml_parser_cannot_use_is_a_codec_error(encoding: str) -> None:
    """Found by fuzzing: expat raised ValueError ("multi-byte encodings are not supported") or
    UnicodeError for these declarations, not a CodecError."""
    document = f'<?xml version="1.0" encoding="{encoding}"?><ConsignmentNote/>'.encode()
    assert "encoding the XML parser cannot read" in refusal("smgs-xml", document)


@pytest.mark.parametrize("weight", ["nan", "inf", "1e400", "1_000", "0x10"])
def test_a_number_python_reads_but_json_does_not_carry_is_refused(weight: str) -> None:
    """Found by fuzzing: float() read grossKg="nan" and the NaN passed the schema's bounds,
    so a consignment note became a body no peer could parse."""
    document = data("smgs_alat_samsun.xml").replace(b'grossKg="24310"',
                                                     f'grossKg="{weight}"'.encode())
    assert f"attribute 'grossKg' is not a number: '{weight}'" in refusal("smgs-xml", document)


@pytest.mark.parametrize("document", [b'{"declaration": ' + b"[" * 100_000,
                                      b'{"declaration": NaN}', b'{"declaration": "\\ud800"}'],
                         ids=["deep", "NaN", "lone surrogate"])
def test_json_that_python_reads_but_is_no_json_text_is_a_codec_error(document: bytes) -> None:
    """Found by fuzzing: deep nesting raised RecursionError out of the JSON codec."""
    assert "The JSON document cannot be read" in refusal("customs-decision-json", document)


# --- writing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("codec_name", "type_name", "body", "message"), [
    ("baplie", "vessel.bayplan",
     {**BAYPLAN, "containers": [{**BAYPLAN["containers"][0], "container": "CSPU1234568"}]},
     "containers/0/container: 'CSPU1234568' is not a 'iso6346'"),
    ("iftsta", "shipment.status", {**STATUS, "location": "Aktau"},
     "location: 'Aktau' is not a 'unlocode'"),
    ("smgs-xml", "rail.consignment", {**CONSIGNMENT, "from_locode": "AZ BAK"},
     "from_locode: 'AZ BAK' is not a 'unlocode'"),
    ("customs-decision-xml", "customs.decision", {**DECISION, "decision": "maybe"},
     "decision: 'maybe' is not one of"),
    ("baplie", "shipment.status", STATUS, "The baplie codec writes vessel.bayplan, not "
                                          "'shipment.status'"),
])
def test_an_invalid_body_is_not_written(codec_name: str, type_name: str, body: dict,
                                        message: str) -> None:
    with pytest.raises(CodecError) as error:
        get(codec_name).encode(type_name, body, Context())
    assert message in str(error.value)


def test_a_status_without_a_code_in_the_table_is_not_written() -> None:
    with pytest.raises(CodecError, match="Status 'discharged' has no IFTSTA status code"):
        get("iftsta").encode("shipment.status", {**STATUS, "status": "discharged"}, Context())


def test_a_status_code_outside_the_table_is_refused_and_a_partner_table_reads_it() -> None:
    text = data("iftsta_rail_status_ady.edi").replace(b"STS+1+24", b"STS+1+21")
    with pytest.raises(CodecError, match=r"Segment 6 \(STS\), element 2: status code '21' is "
                                         r"not in this codec's status table \(24 \(loaded\)\)"):
        get("iftsta").decode(text)
    [status] = IftstaCodec({"21": "departed"}).decode(text)
    assert status.body["status"] == "departed"


def test_every_registered_codec_loads_and_an_unknown_name_gets_a_hint() -> None:
    for name in names():
        assert get(name).name == name
    with pytest.raises(LookupError, match="No such codec: 'bapile'. Did you mean 'baplie'?"):
        get("bapile")
