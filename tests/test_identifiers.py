"""ISO 6346 container numbers, IMO numbers, UN/LOCODEs and date-times, as the schemas check
them."""

from __future__ import annotations

import pytest

from hub.identifiers import is_container_number, is_imo_number, is_unlocode
from hub.schema import schemas
from tests.core.bodies import STATUS


def test_valid_identifiers_pass():
    assert is_container_number("CSPU1234567") and is_container_number("CSQU3054383")
    assert is_imo_number("9123453") and is_imo_number("IMO9074729")
    assert is_unlocode("AZBAK") and is_unlocode("KZAAU")


@pytest.mark.parametrize("check, value", [
    (is_container_number, "CSPU1234567\n"), (is_imo_number, "9123453\n"),
    (is_unlocode, "AZBAK\n"), (is_container_number, "CSPU1234568"),
    (is_imo_number, "9123454"), (is_unlocode, "azbak"),
])
def test_a_near_miss_fails(check, value):
    """A trailing newline passed all three (a regex "$" matches before it), so a body with
    "CSPU1234567\\n" was schema-valid; found while fixing the same trap in the JWS parser."""
    assert not check(value)


def test_a_container_number_with_a_newline_fails_the_schema():
    assert schemas().errors("shipment.status", {**STATUS, "container": "CSPU1234567\n"})


@pytest.mark.parametrize("at", ["2025-03-12T08:15:00Z\n",
                                "\u0662\u0660\u0662\u0665-03-12T08:15:00Z"])
def test_a_date_time_in_other_digits_or_with_a_newline_fails_the_schema(at):
    """fastjsonschema's date-time pattern reads "\\d", which takes Arabic-Indic digits."""
    assert "is not a 'date-time'" in schemas().errors("shipment.status", {**STATUS, "at": at})
