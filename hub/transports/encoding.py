"""Content encoding on the wire: large messages travel deflated (RFC 1951 in a zlib stream,
RFC 1950) when that makes them smaller.

Compression is below the message, not part of it: the receiving hub inflates what arrives back
to the exact bytes that were signed (and, on an encrypted route, sealed), so signatures,
digests and receipts do not change. The transport carries the encoding beside the body (AMQP's
``content_encoding`` property, an MQTT 5 user property); a transport that cannot carry it sends
every message as it is. Inflating is bounded: a message that would inflate beyond the hub's
``limits.max_message_bytes`` is refused as ``too_large`` without inflating the rest.
"""

from __future__ import annotations

import zlib
from typing import Callable

from ..errors import Rejected
from .base import Outlet, OutletWrapper

DEFLATE = "deflate"
ENCODINGS = (DEFLATE,)
LEVEL = 1  # the fastest: most of the gain, a fraction of the CPU of the default level 6
PROBE_BYTES = 16_384  # how much is compressed first to see whether the rest is worth it
WORTH_IT = 0.9  # compress only if it saves at least a tenth


def encode(body: bytes, above: int) -> tuple[bytes, str | None]:
    """``body`` deflated if it is larger than ``above`` bytes (0: never) and shrinks by at
    least a tenth, else as it is; and the encoding to send with it (None: as it is)."""
    if not above or len(body) <= above:
        return body, None
    if len(body) > PROBE_BYTES and \
            len(zlib.compress(body[:PROBE_BYTES], LEVEL)) > WORTH_IT * PROBE_BYTES:
        return body, None  # ciphertext and the like: the probe says it will not shrink
    packed = zlib.compress(body, LEVEL)
    if len(packed) > WORTH_IT * len(body):
        return body, None
    return packed, DEFLATE


def decode(data: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """What arrived, inflated as ``encoding`` says; ``Rejected`` (``malformed`` or
    ``too_large``) if it cannot be, never inflating more than ``max_bytes`` + 1 bytes."""
    if encoding is None or encoding == "identity":
        return data
    if encoding != DEFLATE:
        raise Rejected("malformed", f"unknown content encoding {encoding!r}; porthub sends "
                                    f"{', '.join(ENCODINGS)} or none")
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise Rejected("malformed", f"the deflated message does not inflate: {exc}") from None
    if len(body) > max_bytes:
        raise Rejected("too_large", f"it inflates to more than the limit of {max_bytes} bytes "
                                    f"({len(data)} bytes deflated)")
    if not inflater.eof or inflater.unused_data:
        raise Rejected("malformed", "the deflated message is truncated or has trailing bytes")
    return body


class CompressingOutlet(OutletWrapper):
    """An outlet that deflates what it writes when that pays (``encode``), for a transport
    that can carry the encoding (``Outlet.encodings``). ``above()`` is read at every write,
    so a reload of ``limits.compress_above`` takes effect at once."""

    def __init__(self, outlet: Outlet, above: Callable[[], int]) -> None:
        super().__init__(outlet)
        self.above = above

    async def write(self, body: bytes, message_id: str, encoding: str | None = None) -> None:
        if encoding is None:
            body, encoding = encode(body, self.above())
        await self.outlet.write(body, message_id, encoding=encoding)
