"""Hypothesis strategies shared by the fuzz tests: byte mutations of real samples, JSON
values, JWS structures and envelope fields with the values that break parsers."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from hub.envelope import FIELDS, format_time
from hub.security import jws

# Bytes that matter to the grammars (EDIFACT separators and release characters, XML and
# JSON syntax, UTF-8 sequences), so that mutations hit them more often than chance would.
SPECIAL = st.sampled_from([
    b"+", b":", b"'", b"?", b"??", b"?'", b"*", b".", b",", b" ", b"\n", b"\r\n", b"\x00",
    b"UNA", b"UNA:+.? '", b"UNB+", b"UNH+", b"UNT+", b"UNZ+", b"UNG+", b"\xff", b"\xc3\xa9",
    b"\xe2\x82\xac", b"\xef\xbb\xbf", b"\xd9\xa3", b"\xc2\xb2", b"0", b"9", b"A", b"<", b">",
    b"&", b"&amp;", b"&#0;", b"&#x1F600;", b"]]>", b"<![CDATA[", b"<!--", b'"', b"{", b"}",
    b"[", b"NaN", b"1e400", b"-0", b"null"])


@st.composite
def mutated(draw: st.DrawFn, sample: bytes, steps: int = 4) -> bytes:
    """``sample`` with one to ``steps`` cuts, insertions, replacements or a truncation."""
    text = bytearray(sample)
    for _ in range(draw(st.integers(1, steps))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["cut", "insert", "replace", "truncate", "repeat"]))
        if action == "cut":
            del text[at:at + draw(st.integers(1, 12))]
        elif action == "insert":
            text[at:at] = draw(SPECIAL | st.binary(min_size=1, max_size=4))
        elif action == "replace" and at < len(text):
            text[at] = draw(st.integers(0, 255))
        elif action == "repeat":
            text[at:at] = text[at:at + draw(st.integers(1, 40))]
        else:
            del text[at:]
    return bytes(text)


# -- JSON ---------------------------------------------------------------------------------
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def dumps(value: Any, ascii: bool = False) -> bytes:
    """Compact JSON; ``ascii`` escapes everything beyond ASCII, else a lone surrogate is
    written as its (invalid) UTF-8 bytes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ascii)
    return text.encode("utf-8", "surrogatepass")


# -- JWS ----------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return jws.b64url_encode(data)


def b64std(data: bytes) -> str:
    return base64.b64encode(data).decode()


B64URL_PART = (st.binary(max_size=80).map(b64url)
               | st.text(alphabet="ABCabc019-_=+/. \n", max_size=12) | JSON)


@st.composite
def headers(draw: st.DrawFn, cert_der: bytes) -> Any:
    """Protected headers near the porthub profile: right and wrong members and values."""
    cert = b64std(cert_der)
    header: dict[str, Any] = {
        "alg": draw(st.sampled_from(["EdDSA", "ES256", "none", "HS256", "RS256", "eddsa", ""])
                    | JSON),
        "typ": draw(st.sampled_from(["porthub+jws", "JWT", "JOSE"]) | JSON),
        "x5c": draw(st.sampled_from([[cert], [cert, cert], [], [cert.rstrip("=")],
                                     [cert.replace("+", "-")], [cert[:len(cert) // 2]],
                                     cert, [b64std(cert_der[:-1])]])
                    | st.lists(st.binary(max_size=64).map(b64std), max_size=2)
                    | mutated(cert_der).map(lambda der: [b64std(der)])  # broken DER
                    | JSON),
    }
    for name in draw(st.lists(st.sampled_from(["alg", "typ", "x5c"]), max_size=2)):
        header.pop(name, None)
    for name in draw(st.lists(st.sampled_from(["crit", "b64", "jku", "x5u", "jwk", "kid",
                                               "cty"]), max_size=2)):
        header[name] = draw(JSON)
    return header


@st.composite
def jws_structures(draw: st.DrawFn, cert_der: bytes, payload: bytes) -> bytes:
    """A flattened-JWS-like object whose members are right, wrong or missing."""
    header = draw(headers(cert_der) | JSON)
    members: dict[str, Any] = {
        "payload": draw(st.just(b64url(payload)) | B64URL_PART),
        "protected": draw(st.just(b64url(dumps(header))) | B64URL_PART),
        "signature": draw(st.binary(min_size=64, max_size=64).map(b64url) | B64URL_PART),
    }
    for name in draw(st.lists(st.sampled_from(list(members)), max_size=1)):
        del members[name]
    for name in draw(st.lists(st.sampled_from(["header", "signatures", "extra"]), max_size=1)):
        members[name] = draw(JSON)
    return dumps(members)


@st.composite
def jwe_structures(draw: st.DrawFn, sealed: bytes) -> bytes:
    """A real JWE with one member or one protected header parameter replaced or removed."""
    members: dict[str, Any] = json.loads(sealed)
    if draw(st.booleans()):
        name = draw(st.sampled_from([*members, "header", "aad", "recipients"]))
        if name in members and draw(st.booleans()):
            del members[name]
        else:
            members[name] = draw(B64URL_PART)
    else:
        header = json.loads(jws.b64url_decode(members["protected"], "protected"))
        name = draw(st.sampled_from([*header, "zip", "crit", "jku"]))
        header[name] = draw(st.sampled_from([
            "A128GCM", "dir", "RSA-OAEP", "none", "", None,
            {"kty": "OKP", "crv": "X25519", "x": b64url(bytes(32))},  # a small-order point
            {"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(32))},
            {"kty": "EC", "crv": "P-256", "x": "", "y": ""}]) | JSON)
        members["protected"] = b64url(dumps(header))
    return dumps(members)


# -- envelopes ----------------------------------------------------------------------------
def time_variants(moment: datetime) -> st.SearchStrategy[Any]:
    """``moment`` written as porthub does, as other RFC 3339 / ISO 8601 spellings, and not."""
    utc = moment.astimezone(timezone.utc)
    return st.sampled_from([
        format_time(utc), format_time(utc)[:-5] + "Z", utc.strftime("%Y-%m-%dZ"),
        utc.strftime("%Y%m%dT%H%M%SZ"), utc.isoformat(), utc.isoformat() + "Z",
        utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), utc.strftime("%Y-%m-%d %H:%M:%S.000Z"),
        format_time(utc).lower(), format_time(utc).replace("T", "t"), format_time(utc) + "\n",
        utc.strftime("%G-W%V-%uT%H:%MZ"), "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z",
        "2026-02-30T00:00:00.000Z", "2026-11-28T24:00:00.000Z", "", "Z",
    ]) | st.datetimes(timezones=st.just(timezone.utc)).map(format_time) | JSON


def field_values(name: str, valid: Any, now: datetime) -> st.SearchStrategy[Any]:
    """Replacements for envelope member ``name``: near misses of ``valid`` and anything."""
    if name in ("created", "expires"):
        return time_variants(now + timedelta(seconds=-5 if name == "created" else 86400))
    near = [valid]
    if isinstance(valid, str):
        near += [valid + "\n", valid.upper(), " " + valid, valid[:-1], valid + "x",
                 valid * 40, valid.replace("-", "\u2010"), valid + "\ud800", "\udfff"]
    return st.sampled_from(near + [True, 1.0, 0, -1, None, "", [], {}]) | JSON


@st.composite
def envelope_dicts(draw: st.DrawFn, valid: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``valid`` with a few members replaced, removed or added."""
    envelope = dict(valid)
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        envelope[name] = draw(field_values(name, valid[name], now))
    action = draw(st.sampled_from(["keep", "keep", "drop", "add"]))
    if action == "drop":
        del envelope[draw(st.sampled_from(FIELDS))]
    elif action == "add":
        envelope[draw(st.sampled_from(["extra", "From", "signature"]))] = draw(JSON)
    return envelope
