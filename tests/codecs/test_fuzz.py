"""Fuzzing ``decode``: whatever the bytes, a codec returns valid messages or raises
CodecError, never another exception. Inputs are the samples with bytes cut, inserted and
replaced (so most of them get past UNB and into the message), and arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.codecs import CodecError, get
from hub.schema import schemas

from . import data

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
# bytes that matter to the grammars, so mutations hit separators and release characters
SPECIAL = st.sampled_from([b"+", b":", b"'", b"?", b"??", b"?'", b"UNH+", b"UNT+", b"\n", b"\xff",
                           b"<", b"&", b'"', b"{", b"0", b"A", b"UNA", b"*", b"\xc3\xa9"])


@st.composite
def mutated(draw: st.DrawFn, sample: bytes) -> bytes:
    text = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["cut", "insert", "replace", "truncate"]))
        if action == "cut":
            del text[at:at + draw(st.integers(1, 12))]
        elif action == "insert":
            text[at:at] = draw(SPECIAL | st.binary(min_size=1, max_size=4))
        elif action == "replace" and at < len(text):
            text[at] = draw(st.integers(0, 255))
        else:
            del text[at:]
    return bytes(text)


def check(codec_name: str, blob: bytes) -> None:
    try:
        decoded = get(codec_name).decode(blob)
    except CodecError:
        return
    for item in decoded:
        assert schemas().errors(item.type, item.body) is None


@pytest.mark.parametrize("codec_name", SAMPLES)
def test_decoding_mutated_samples_raises_only_codec_errors(codec_name: str) -> None:
    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(blob=mutated(data(SAMPLES[codec_name])))
    def run(blob: bytes) -> None:
        check(codec_name, blob)

    run()


@pytest.mark.parametrize("codec_name", SAMPLES)
def test_decoding_arbitrary_bytes_raises_only_codec_errors(codec_name: str) -> None:
    prefix = b"UNA:+.? 'UNB+UNOA:2+A+B+250312:0815+R'UNH+1+" if codec_name.islower() else b""

    @settings(max_examples=60, deadline=None, database=None)
    @given(blob=st.binary(max_size=200), prefixed=st.booleans())
    def run(blob: bytes, prefixed: bool) -> None:
        check(codec_name, (prefix if prefixed else b"") + blob)

    run()
