"""Large messages travel deflated, and what arrives deflated is inflated only within the
hub's size limit (hub/transports/encoding.py)."""

from __future__ import annotations

import json
import os
import zlib

import pytest

from hub.errors import Rejected
from hub.transports.encoding import DEFLATE, decode, encode
from tests.core.bodies import MANIFEST
from tests.support.aio import run
from tests.support.network import Network

LIMIT = 1_048_576


def _manifest(consignments: int) -> dict:
    [one] = MANIFEST["consignments"]
    return {**MANIFEST, "consignments": [
        {**one, "bill_of_lading": f"AKTBAK25{n:04d}", "gross_kg": 20_000 + n}
        for n in range(consignments)]}


def test_a_large_message_is_deflated_and_comes_back_byte_for_byte() -> None:
    body = json.dumps(_manifest(300)).encode()
    packed, encoding = encode(body, 16_384)
    assert encoding == DEFLATE and len(packed) < len(body) / 4
    assert decode(packed, encoding, LIMIT) == body


@pytest.mark.parametrize("body, above", [
    (b"x" * 1000, 16_384),          # small: sent as it is
    (b"x" * 100_000, 0),            # compression switched off
    (os.urandom(100_000), 16_384),  # does not shrink (ciphertext, say): sent as it is
], ids=["small", "switched off", "incompressible"])
def test_what_does_not_pay_is_sent_as_it_is(body: bytes, above: int) -> None:
    assert encode(body, above) == (body, None)


@pytest.mark.parametrize("data, encoding, reason, words", [
    (zlib.compress(b"\0" * (20 * LIMIT)), DEFLATE, "too_large", "inflates to more than"),
    (zlib.compress(b"{}")[:-3], DEFLATE, "malformed", "truncated"),
    (zlib.compress(b"{}") + b"tail", DEFLATE, "malformed", "trailing"),
    (b"not deflate at all", DEFLATE, "malformed", "does not inflate"),
    (b"{}", "br", "malformed", "unknown content encoding 'br'"),
], ids=["bomb", "truncated", "trailing bytes", "not deflate", "unknown encoding"])
def test_a_bad_encoding_is_refused_with_its_reason(data, encoding, reason, words) -> None:
    with pytest.raises(Rejected) as refused:
        decode(data, encoding, LIMIT)
    assert refused.value.reason == reason and words in refused.value.detail


def test_a_deflate_bomb_is_refused_without_inflating_it_all() -> None:
    """Given 64 MiB of zeros deflated to about 64 KB on the wire, decode stops at the 1 MiB
    limit instead of inflating it all, and the refusal says too_large."""
    bomb = zlib.compressobj(9)
    data = b"".join(bomb.compress(b"\0" * (1 << 20)) for _ in range(64)) + bomb.flush()
    assert len(data) < 100_000
    inflated = []
    real = zlib.decompressobj

    class Counting:  # how much decode really inflated
        def __init__(self) -> None:
            self.inflater = real()
            self.eof, self.unused_data = False, b""

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self.inflater.decompress(data, max_length)
            inflated.append(len(out))
            return out

    zlib.decompressobj = Counting
    try:
        with pytest.raises(Rejected) as refused:
            decode(data, DEFLATE, LIMIT)
    finally:
        zlib.decompressobj = real
    assert refused.value.reason == "too_large" and sum(inflated) <= LIMIT + 1


def test_the_memory_transport_sends_everything_as_it_is(tmp_path) -> None:
    """Given hubs on the in-memory transport (which cannot carry an encoding), a large
    manifest crosses undeflated and arrives intact."""
    net = Network(tmp_path, ["aktau", "baku"])

    async def scenario() -> None:
        await net.start()
        try:
            link = net.hubs["aktau"].links["baku"]
            assert link.outlet.encodings == ()
            body = _manifest(300)
            sub = await net.hubs["aktau"].submit("cargo.manifest", body, to="baku")
            await net.wait_settled("aktau", sub.ids)
            assert net.delivered["baku"][0].body == body
        finally:
            await net.stop()

    run(scenario())
