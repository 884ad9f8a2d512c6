"""Realistic message bodies for one shipment (container CSPU1234567, B/L AKTBAK250001), as in
the EDIFACT samples in tests/fixtures/edifact."""

VESSEL = {"imo": "9123453", "name": "CASPIAN STAR"}

STATUS = {"container": "CSPU1234567", "bill_of_lading": "AKTBAK250001", "status": "loaded",
          "location": "KZAAU", "at": "2025-03-12T08:15:00Z"}

MANIFEST = {
    "vessel": VESSEL, "voyage": "0312E", "pol": "KZAAU", "pod": "AZBAK",
    "consignments": [{"bill_of_lading": "AKTBAK250001", "containers": ["CSPU1234567"],
                      "goods": "Cotton yarn", "hs_code": "520511", "gross_kg": 24310,
                      "packages": 40}],
}

BAYPLAN = {
    "vessel": VESSEL, "voyage": "0312E", "port": "KZAAU", "next_port": "AZBAK",
    "containers": [{"container": "CSPU1234567", "position": "0020482", "size_type": "22G1",
                    "weight_kg": 24310, "pol": "KZAAU", "pod": "AZBAK",
                    "bill_of_lading": "AKTBAK250001", "full": True}],
}

DECISION = {"declaration_ref": "AZ-BAK-2025-000871", "bill_of_lading": "AKTBAK250001",
            "containers": ["CSPU1234567"], "decision": "released",
            "decided_at": "2025-03-13T19:02:00Z", "authority": "State Customs Committee"}

CONSIGNMENT = {"consignment_note": "SMGS-ADY-250313-0042", "convention": "CIM/SMGS",
               "from_station": "Alat", "to_station": "Samsun", "from_locode": "AZBAK",
               "to_locode": "TRSSX", "wagon": "59570012345",
               "containers": ["CSPU1234567"], "gross_kg": 24310, "goods": "Cotton yarn"}


def status(i: int) -> dict:
    """The i-th status update of a long stream (distinct bodies)."""
    return {**STATUS, "note": f"update {i}"}
