"""JSON read from outside is JSON text porthub can sign and store: at every door (a peer's
message, a legacy system's file or row, a body submitted to the hub), NaN, duplicate names,
lone surrogates and stack-deep nesting are refused with the door's own error (regressions
found by tests/fuzz)."""

from __future__ import annotations

import json

import pytest

from adapters.common.codecs import decode_envelope_json
from adapters.common.submission import InvalidSubmission
from adapters.sql.adapter import submission_of
from hub import jsontext
from hub.schema import schemas
from tests.core.bodies import STATUS

NOT_JSON_TEXT = {
    "NaN": b'{"a": NaN}',
    "Infinity": b'[-Infinity]',
    "a duplicate member": b'{"a": {"b": 1, "b": 2}}',
    "a lone surrogate": b'{"a": "x\\udfff"}',
    "nesting deeper than the stack": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", NOT_JSON_TEXT)
def test_loads_refuses_with_a_value_error(case):
    with pytest.raises(ValueError):
        jsontext.loads(NOT_JSON_TEXT[case])


def test_loads_keeps_the_position_of_a_syntax_error_and_reads_json_text():
    with pytest.raises(json.JSONDecodeError) as error:
        jsontext.loads(b'{"a": }')
    assert (error.value.lineno, error.value.colno) == (1, 7)
    assert jsontext.loads('["\\ud83d\\ude00", 1.5, {"b": null}]') == ["\U0001F600", 1.5,
                                                                       {"b": None}]


@pytest.mark.parametrize("case", NOT_JSON_TEXT)
def test_the_envelope_json_decoder_refuses_with_invalid_submission(case):
    """Deep nesting used to escape as RecursionError, NaN to become the body of a message."""
    document = NOT_JSON_TEXT[case].replace(b'{"a"', b'{"type": "shipment.status", "body"')
    with pytest.raises(InvalidSubmission, match="not valid JSON"):
        decode_envelope_json(document)


def test_a_sql_row_with_nan_in_its_body_is_an_invalid_submission():
    with pytest.raises(InvalidSubmission, match="body is not valid JSON"):
        submission_of({"id": 1, "type": "shipment.status", "body": '{"weight": NaN}'})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "x\ud800", {1: "a"}, b"a"])
def test_a_body_that_is_not_json_text_fails_the_schema_check(value):
    """The one gate before a hub signs a submitted body: JSON Schema lets NaN through every
    bound, and a lone surrogate could be signed but never stored or read by a peer."""
    problem = schemas().errors("shipment.status", {**STATUS, "note": value})
    assert problem is not None and problem.startswith("(body): ")
    assert schemas().errors("shipment.status", STATUS) is None
