"""Round trips: decode → canonical → encode → decode gives the same canonical messages, for
every codec, on the samples and the variants; and every canonical body is schema-valid."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.codecs import Context, get
from hub.schema import schemas

from . import data

CASES = [
    ("baplie", "baplie_aktau_baku.edi", 1),
    ("baplie", "baplie_optional_missing_reordered.edi", 1),
    ("baplie", "baplie_una_separators.edi", 1),
    ("coarri", "coarri_load_aktau.edi", 1),
    ("coarri", "coarri_two_messages.edi", 3),
    ("coprar", "coprar_restow.edi", 1),
    ("codeco", "codeco_gate_out_baku_rail.edi", 1),
    ("codeco", "codeco_gate_in_truck_reordered.edi", 2),
    ("cuscar-manifest", "cuscar_pre_arrival_baku.edi", 1),
    ("cuscar-manifest", "cuscar_release_characters.edi", 1),
    ("cuscar-pre-arrival", "cuscar_pre_arrival_baku.edi", 1),
    ("cuscar-pre-arrival", "cuscar_release_characters.edi", 1),
    ("iftsta", "iftsta_rail_status_ady.edi", 1),
    ("iftsta", "iftsta_two_statuses.edi", 2),
    ("smgs-xml", "smgs_alat_samsun.xml", 1),
    ("smgs-xml", "smgs_prefixed_minimal.xml", 1),
    ("customs-decision-xml", "customs_decision_baku.xml", 1),
    ("customs-decision-json", "customs_decision_held.json", 1),
    ("customs-decision-json", "customs_decision_baku.xml", 1),  # reads XML, writes JSON
]

CONTEXTS = {
    "default": Context(sender="KZAAUTOS", recipient="AZBAKTOS", reference="PH0001"),
    "other separators, one line": Context(reference="PH0002", separators="|^,! ~",
                                          line_breaks=False),
}


@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize(("codec_name", "file", "count"), CASES)
def test_decode_encode_decode_gives_the_same_canonical_messages(codec_name: str, file: str,
                                                                count: int,
                                                                context: Context) -> None:
    codec = get(codec_name)
    decoded = codec.decode(data(file))
    assert len(decoded) == count
    for item in decoded:
        assert schemas().errors(item.type, item.body) is None
        written = codec.encode(item.type, item.body,
                               replace(context, correlation_id=item.correlation_id))
        assert codec.decode(written) == [item]


# --- what is read ----------------------------------------------------------------------------

VESSEL = {"imo": "9123453", "name": "CASPIAN STAR", "operator": "ASC"}


def test_the_baplie_sample_becomes_the_bay_plan_of_the_vessel_leaving_aktau() -> None:
    [plan] = get("baplie").decode(data("baplie_aktau_baku.edi"))
    assert plan.correlation_id == "AKTBAK250001"
    assert plan.body == {
        "vessel": VESSEL, "voyage": "0312E", "port": "KZAAU", "next_port": "AZBAK",
        "prepared_at": "2025-03-12T08:15:00Z",
        "containers": [{"container": "CSPU1234567", "position": "0020482", "size_type": "22G1",
                        "weight_kg": 24310, "pol": "KZAAU", "pod": "AZBAK",
                        "bill_of_lading": "AKTBAK250001", "full": True, "operator": "ASC"}]}


def test_missing_optional_segments_and_another_order_are_read() -> None:
    [plan] = get("baplie").decode(data("baplie_optional_missing_reordered.edi"))
    first, second = plan.body["containers"]
    assert "prepared_at" not in plan.body and "next_port" not in plan.body
    assert first["weight_kg"] == 24310  # 24.31 TNE
    assert (first["pol"], first["pod"], first["bill_of_lading"]) == ("KZAAU", "AZBAK",
                                                                     "AKTBAK250001")
    assert second == {"container": "MSKU1234565", "position": "0100210", "size_type": "45G1",
                      "full": False}


def test_a_una_with_other_separators_and_a_decimal_comma_is_honoured() -> None:
    [plan] = get("baplie").decode(data("baplie_una_separators.edi"))
    slot = plan.body["containers"][0]
    assert slot["weight_kg"] == 24310.5
    assert slot["bill_of_lading"] == "AKT!BAK|250001"  # !! and !| released
    assert plan.body["voyage"] == "0312E^A" and plan.body["vessel"]["name"] == "CASPIAN STAR~ II"


def test_the_coarri_sample_is_a_load_at_aktau() -> None:
    [move] = get("coarri").decode(data("coarri_load_aktau.edi"))
    assert move.correlation_id == "AKTBAK250001"
    assert move.body == {"terminal": "KZAAUTOS", "container": "CSPU1234567", "move": "load",
                         "at": "2025-03-12T05:40:00Z", "position": "0020482", "vessel": VESSEL,
                         "voyage": "0312E", "port": "KZAAU"}


def test_several_messages_in_one_interchange_give_a_move_per_container() -> None:
    moves = get("coarri").decode(data("coarri_two_messages.edi"))
    assert [(m.body["container"], m.body["move"], m.body["at"]) for m in moves] == [
        ("CSPU1234567", "load", "2025-03-12T05:40:00Z"),
        ("MSKU1234565", "load", "2025-03-12T05:50:30Z"),
        ("TGHU9876542", "discharge", "2025-03-12T00:00:00Z")]
    assert moves[2].body["terminal"] == "KZAAUTOS"  # no related place: the UNB sender


def test_a_coprar_restow_order_is_a_restow() -> None:
    [move] = get("coprar").decode(data("coprar_restow.edi"))
    assert (move.body["move"], move.body["terminal"], move.body["position"]) == (
        "restow", "AKTT", "0040682")


def test_the_codeco_sample_is_a_gate_out_at_baku_onto_a_rail_wagon() -> None:
    [event] = get("codeco").decode(data("codeco_gate_out_baku_rail.edi"))
    assert event.correlation_id == "AKTBAK250001"
    assert event.body == {"terminal": "BAKT", "container": "CSPU1234567", "direction": "out",
                          "at": "2025-03-14T10:55:00Z", "port": "AZBAK", "full": True,
                          "carrier": {"mode": "rail", "id": "58412307"}}


def test_a_gate_in_by_truck_with_the_location_in_the_head() -> None:
    first, second = get("codeco").decode(data("codeco_gate_in_truck_reordered.edi"))
    assert first.body["carrier"] == {"mode": "truck", "id": "077ABC02"}
    assert (second.body["direction"], second.body["full"], second.body["port"]) == (
        "in", False, "KZAAU")
    assert second.correlation_id is None


def test_the_cuscar_sample_as_a_cargo_manifest() -> None:
    [manifest] = get("cuscar-manifest").decode(data("cuscar_pre_arrival_baku.edi"))
    assert manifest.body == {
        "vessel": VESSEL, "voyage": "0312E", "pol": "KZAAU", "pod": "AZBAK",
        "consignments": [{"bill_of_lading": "AKTBAK250001", "containers": ["CSPU1234567"],
                          "goods": "RAW COTTON, NOT CARDED OR COMBED", "hs_code": "520100",
                          "gross_kg": 20150, "packages": 80,
                          "shipper": {"name": "KAZ COTTON LLP", "country": "KZ"},
                          "consignee": {"name": "ABSHERON TEXTILE LLC", "country": "AZ"}}]}


def test_the_cuscar_sample_as_a_customs_pre_arrival_declaration() -> None:
    [declaration] = get("cuscar-pre-arrival").decode(data("cuscar_pre_arrival_baku.edi"))
    assert declaration.correlation_id == "AKTBAK250001"
    assert declaration.body == {
        "declaration_ref": "AKTBAK0312E", "vessel": VESSEL, "voyage": "0312E", "port": "AZBAK",
        "eta": "2025-03-13T18:00:00Z",
        "consignments": [{"bill_of_lading": "AKTBAK250001", "containers": ["CSPU1234567"],
                          "goods": "RAW COTTON, NOT CARDED OR COMBED", "hs_code": "520100",
                          "gross_kg": 20150}]}


def test_release_characters_in_names_and_goods_are_read_and_written_back() -> None:
    [manifest] = get("cuscar-manifest").decode(data("cuscar_release_characters.edi"))
    first, second = manifest.body["consignments"]
    assert first["shipper"] == {"name": "KAZ COTTON + LINEN LLP", "code": "KZC01",
                                "country": "KZ"}
    assert first["consignee"]["name"] == "Absheron Textile 'Baku' LLC"
    assert first["goods"] == "RAW COTTON: GRADE 100? PCT NOT CARDED"
    assert first["gross_kg"] == 20150.5
    # two goods items: descriptions joined, weights (2000 kg + 1.5 t) and packages added
    assert (second["goods"], second["gross_kg"], second["packages"]) == (
        "COTTON YARN; LINEN YARN", 3500, 15)
    assert "hs_code" not in second
    assert manifest.correlation_id is None  # two bills of lading
    written = get("cuscar-manifest").encode(manifest.type, manifest.body, Context())
    assert b"KAZ COTTON ?+ LINEN LLP" in written and b"Textile ?'Baku?' LLC" in written
    assert b"RAW COTTON?: GRADE 100?? PCT NOT CARDED" in written


def test_the_iftsta_sample_is_a_rail_status_at_baku() -> None:
    [status] = get("iftsta").decode(data("iftsta_rail_status_ady.edi"))
    assert status.body == {"status": "loaded", "at": "2025-03-16T08:45:00Z",
                           "container": "CSPU1234567", "bill_of_lading": "AKTBAK250001",
                           "location": "AZBAK"}


def test_each_status_group_is_one_status() -> None:
    first, second = get("iftsta").decode(data("iftsta_two_statuses.edi"))
    assert first.body["note"] == "ON WAGON 58412307, TRAIN 4411"
    assert (second.body["container"], second.correlation_id) == ("MSKU1234565", "AKTBAK250002")


def test_the_smgs_note_with_a_prefix_cdata_and_entities_is_read() -> None:
    [note] = get("smgs-xml").decode(data("smgs_prefixed_minimal.xml"))
    assert note.body == {"consignment_note": "SMGS-ADY-250320-0007", "convention": "SMGS",
                         "from_station": "<Alat> yard 3", "to_station": "Kars & Erzurum",
                         "containers": ["CSPU1234567", "MSKU1234565"],
                         "goods": 'Cotton & linen "yarn" <bales>'}
    assert note.correlation_id is None


def test_the_smgs_note_keeps_non_latin_names() -> None:
    [note] = get("smgs-xml").decode(data("smgs_alat_samsun.xml"))
    assert note.body["consignee"] == {"name": "Karadeniz İplik A.Ş.", "country": "TR"}
    assert note.correlation_id == "AKTBAK250001"


def test_a_customs_decision_reads_the_same_from_xml_and_json() -> None:
    [from_xml] = get("customs-decision-xml").decode(data("customs_decision_baku.xml"))
    as_json = get("customs-decision-json").encode(from_xml.type, from_xml.body, Context())
    assert get("customs-decision-xml").decode(as_json) == [from_xml]
    assert from_xml.body == {"declaration_ref": "AZ-BAK-2025-000871", "decision": "released",
                             "decided_at": "2025-03-13T19:02:00Z",
                             "authority": "State Customs Committee",
                             "bill_of_lading": "AKTBAK250001", "containers": ["CSPU1234567"]}
    assert from_xml.correlation_id == "AKTBAK250001"
