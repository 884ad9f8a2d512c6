"""The codec settings the channels share: ``format: edifact`` reads each interchange by its
message type; ``encode`` writes inbound messages as the codec documents the local system reads
-- through filedrop (test_filedrop.py) and http (here: a real client and webhook receiver)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from adapters.codecs import get
from adapters.common.codecs import decoder
from adapters.common.submission import InvalidSubmission
from tests.adapters.conformance import RECEIVER, SENDER
from tests.adapters.test_http import SECRET, TOKEN, Receiver
from tests.core.bodies import DECISION
from tests.support.aio import run, wait_until
from tests.support.network import Network

DATA = Path(__file__).parents[1] / "codecs" / "data"


@pytest.mark.parametrize("sample, cuscar, codec", [
    ("baplie_aktau_baku.edi", "cuscar-manifest", "baplie"),
    ("coarri_two_messages.edi", "cuscar-manifest", "coarri"),
    ("coprar_restow.edi", "cuscar-manifest", "coprar"),
    ("codeco_gate_out_baku_rail.edi", "cuscar-manifest", "codeco"),
    ("iftsta_two_statuses.edi", "cuscar-manifest", "iftsta"),
    ("cuscar_pre_arrival_baku.edi", "cuscar-manifest", "cuscar-manifest"),
    ("cuscar_pre_arrival_baku.edi", "cuscar-pre-arrival", "cuscar-pre-arrival"),
])
def test_edifact_format_reads_each_interchange_with_the_codec_of_its_type(
        sample: str, cuscar: str, codec: str) -> None:
    """Given one folder for every EDIFACT message, each file is read by its UNH message type,
    exactly as the codec of that type reads it; a CUSCAR as the cuscar setting says."""
    data = (DATA / sample).read_bytes()
    got = decoder("edifact", cuscar=cuscar)(data)
    expected = get(codec).decode(data)
    assert [(s.type, s.body, s.correlation_id) for s in got] == \
        [(d.type, d.body, d.correlation_id) for d in expected]
    assert got and got[0].type in get(codec).types


def test_edifact_format_refuses_unknown_and_mixed_interchanges_naming_the_place() -> None:
    edifact = decoder("edifact")
    with pytest.raises(InvalidSubmission, match=r"Segment 2 \(UNH\), element 2: message type "
                                                r"'IFTMIN' is not read by format edifact"):
        edifact((DATA / "unknown_message_type.edi").read_bytes())
    with pytest.raises(InvalidSubmission, match="truncated: segment 17"):
        edifact((DATA / "truncated_mid_segment.edi").read_bytes())
    baplie = (DATA / "baplie_aktau_baku.edi").read_text()
    coarri = (DATA / "coarri_load_aktau.edi").read_text()
    message = coarri[coarri.index("UNH"):coarri.index("UNZ")]
    mixed = baplie.replace("UNZ+1+", message + "UNZ+2+")
    with pytest.raises(InvalidSubmission, match="mixes BAPLIE and COARRI messages"):
        edifact(mixed.encode())


def test_format_and_cuscar_settings_are_checked_with_the_closest_name() -> None:
    from adapters.filedrop import FiledropConfig

    with pytest.raises(ValueError, match="format 'edifakt' is not known. Did you mean "
                                         "'edifact'"):
        FiledropConfig(kind="filedrop", inbox_dir="/tmp", format="edifakt")
    with pytest.raises(ValueError, match="cuscar must be cuscar-manifest or "
                                         "cuscar-pre-arrival, got 'manifest'"):
        FiledropConfig(kind="filedrop", inbox_dir="/tmp", format="edifact", cuscar="manifest")
    with pytest.raises(ValueError, match="cuscar is only used with format: edifact"):
        FiledropConfig(kind="filedrop", inbox_dir="/tmp", cuscar="cuscar-pre-arrival")


class DocumentReceiver(Receiver):
    """A local system's webhook that keeps what it is sent, as sent (not as JSON)."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[tuple[dict[str, str], bytes]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        self.documents.append((dict(request.headers), await request.read()))
        return web.Response(status=200)


def test_http_takes_and_posts_codec_documents(tmp_path: Path) -> None:
    """Given aktau's API reading customs decisions in XML and baku's webhook writing them in
    XML, the posted XML document reaches baku's local system as an XML document, labelled,
    signed and keyed by the message id, with the same decision in it."""
    receiver = DocumentReceiver()
    xml = (DATA / "customs_decision_baku.xml").read_bytes()

    async def scenario() -> None:
        await receiver.start()
        net = Network(
            tmp_path, [SENDER, RECEIVER], routes={SENDER: [{"type": "customs.*", "to": RECEIVER}]},
            adapters={
                SENDER: {"api": {"kind": "http", "listen": "127.0.0.1:0",
                                 "tokens": [{"value": TOKEN}],
                                 "format": "customs-decision-xml"}},
                RECEIVER: {"api": {"kind": "http", "listen": None, "receives": ["customs.*"],
                                   "encode": {"customs.decision": "customs-decision-xml"},
                                   "webhook": {"url": receiver.url,
                                               "secret": {"value": SECRET}}}}})
        await net.start()
        try:
            api = net.hubs[SENDER].adapters.adapters["api"]
            await wait_until(lambda: api.address is not None, 10, what="the API")
            async with aiohttp.ClientSession() as session:
                async with session.post("http://%s:%d/api/v1/messages" % api.address,
                                        data=xml, headers={"Authorization": f"Bearer {TOKEN}",
                                                           "Content-Type": "application/xml",
                                                           "Idempotency-Key": "cd-871"}) as r:
                    assert r.status == 202, await r.text()
                    [message_id] = (await r.json())["ids"]
            await wait_until(lambda: receiver.documents, 15, what="the webhook")
            headers, body = receiver.documents[0]
            assert headers["Content-Type"] == "application/xml"
            assert headers["X-Porthub-Type"] == "customs.decision"
            assert headers["Idempotency-Key"] == message_id
            assert headers["X-Porthub-Signature"] == \
                "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            [decoded] = get("customs-decision-xml").decode(body)
            assert decoded.body == DECISION
        finally:
            await net.stop()
            await receiver.stop()

    run(scenario())
