"""http against a real HTTP client and a real webhook receiver on 127.0.0.1: POST at aktau,
webhook at baku, exactly once; status and history by GET; tokens and client certificates;
every bad request refused with its status and sentence while good ones flow."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.http.config import WebhookConfig
from adapters.http.webhook import Webhook
from hub.errors import ConfigError, PermanentError, TransientError
from hub.security import pki
from tests.adapters.conformance import (RECEIVER, SENDER, Conformance, Harness, check_sample,
                                        errors, running, wait_taken)
from tests.adapters.test_filedrop import envelope, status_file
from tests.core.bodies import STATUS, status
from tests.support.aio import run, wait_until

TOKEN = "aktau-api-token-5f2c"
SECRET = "webhook-secret-91ab"


class Receiver:
    """The local system's webhook endpoint: checks the signature, keeps each message once per
    Idempotency-Key (as docs/adapters.md asks of a receiver), answers as told."""

    def __init__(self) -> None:
        self.answer = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.kept: dict[str, dict] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/porthub", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = "http://127.0.0.1:%d/porthub" % self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(request.headers.get("X-Porthub-Signature", ""), expected)
        key = request.headers.get("Idempotency-Key")
        self.requests.append({"key": key, "signed": signed, "answer": self.answer,
                              "id": request.headers.get("X-Porthub-Message-Id")})
        if self.delay:
            await asyncio.sleep(self.delay)
        if not signed:
            return web.Response(status=401, text="bad signature")
        if self.answer != 200:
            return web.Response(status=self.answer, text=f"told to answer {self.answer}")
        self.kept.setdefault(key, json.loads(body))
        return web.Response(status=200)


class HttpHarness(Harness):
    name = "tos-api"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.receiver = Receiver()

    async def start(self) -> None:
        await self.receiver.start()

    async def stop(self) -> None:
        await self.receiver.stop()

    def adapters(self) -> dict:
        return {SENDER: {self.name: {"kind": "http", "listen": "127.0.0.1:0",
                                     "tokens": [{"value": TOKEN}]}},
                RECEIVER: {self.name: {"kind": "http", "listen": None, "receives": ["*"],
                                       "webhook": {"url": self.receiver.url,
                                                   "secret": {"value": SECRET},
                                                   "timeout": "2s"}}}}

    async def api(self) -> str:
        await wait_until(lambda: self.adapter(SENDER).address is not None, 10,
                         what="aktau's API to listen")
        return "http://%s:%d/api/v1/messages" % self.adapter(SENDER).address

    async def emit(self, n: int) -> None:
        status_code, answer = await post(await self.api(), status_file(n))
        assert status_code == 202, answer

    async def taken(self) -> list[dict]:
        return list(self.receiver.kept.values())

    async def break_output(self) -> None:
        self.receiver.answer = 500

    async def refuse_output(self) -> None:
        self.receiver.answer = 400

    async def heal_output(self) -> None:
        self.receiver.answer = 200


async def post(url: str, document: Any = None, *, data: Any = None, token: str | None = TOKEN,
               headers: dict | None = None, ssl_context: Any = None) -> tuple[int, dict]:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=document if data is None else None, data=data,
                                headers=headers, ssl=ssl_context) as answer:
            return answer.status, await answer.json(content_type=None)


async def get(url: str, token: str | None = TOKEN) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as answer:
            return answer.status, await answer.json(content_type=None)


@pytest.fixture
def harness(tmp_path: Path) -> HttpHarness:
    return HttpHarness(tmp_path)


class TestHttpConformance(Conformance):
    pass  # the harness fixture above


def test_sample_config_is_current_and_valid() -> None:
    check_sample("http")


def test_submit_then_read_state_and_history_and_replay_the_idempotency_key(
        harness: HttpHarness, tmp_path: Path) -> None:
    """Given a POST with an Idempotency-Key, 202 gives the id; the same POST again gives the
    same id and sends nothing more; GET shows the message delivered with its history, and
    the webhook at baku got it once, signed, with the message id as its Idempotency-Key."""
    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            url = await harness.api()
            code, first = await post(url, status_file(1), headers={"Idempotency-Key": "tos-77"})
            assert code == 202 and first["recipients"] == [RECEIVER]
            code, again = await post(url, status_file(1), headers={"Idempotency-Key": "tos-77"})
            assert code == 202 and again["ids"] == first["ids"]
            [message_id] = first["ids"]
            await net.wait_settled(SENDER, [message_id])
            code, shown = await get(f"{url}/{message_id}")
            assert code == 200
            [record] = shown["records"]
            assert record["state"] == "delivered" and record["peer"] == RECEIVER
            assert [h["state"] for h in record["history"]] == ["queued", "sent", "delivered"]
            assert record["created"].endswith("Z")
            [kept] = await wait_taken(harness, 1)
            assert kept["id"] == message_id and kept["body"] == status(1)
            await asyncio.sleep(0.3)
            [request] = harness.receiver.requests
            assert request == {"key": message_id, "signed": True, "answer": 200,
                               "id": message_id}
            code, missing = await get(f"{url}/0190c3a1-0000-7000-8000-000000000000")
            assert code == 404 and "no message" in missing["error"]

    run(scenario())


def test_webhook_500_then_200_is_retried_and_kept_once(harness: HttpHarness,
                                                     tmp_path: Path) -> None:
    """Given a webhook answering 500 for a while, the hub retries with back-off; every
    attempt carries the same Idempotency-Key and a valid signature; once it answers 200
    the message is kept once and not posted again."""
    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, log):
            harness.receiver.answer = 500
            await harness.emit(0)
            await wait_until(lambda: len(harness.receiver.requests) >= 3, 15,
                             what="three attempts")
            harness.receiver.answer = 200
            [kept] = await wait_taken(harness, 1)
            await wait_until(lambda: log.ids("handed_over") == [kept["id"]], 10)
            await asyncio.sleep(0.3)
            requests = harness.receiver.requests
            assert {r["key"] for r in requests} == {kept["id"]}
            assert all(r["signed"] for r in requests)
            assert [r["answer"] for r in requests].count(200) == 1

    run(scenario())


def test_bad_requests_are_refused_with_a_sentence_and_nothing_is_sent(
        harness: HttpHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Given requests without a token, with a wrong one, too large, not JSON, with an unknown
    type, an invalid body or an unknown field, each is refused with its status and a sentence
    naming the problem, counted, never logging the token; a good request still goes through."""
    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            url = await harness.api()
            cases = [
                (dict(document=status_file(0), token=None), 401, "bearer token is required"),
                (dict(document=status_file(0), token="guessed-token"), 401, "not valid"),
                (dict(data=b"{" + b" " * (1 << 20) + b"}",
                      headers={"Content-Type": "application/json"}), 413, "max_bytes"),
                (dict(data=b'{"type": "shipment.status", "body": {',
                      headers={"Content-Type": "application/json"}), 400,
                 "not valid JSON"),
                (dict(document={**status_file(0), "type": "shipment.statut"}), 400,
                 "Did you mean 'shipment.status'"),
                (dict(document={**status_file(0), "body": {**STATUS, "container": "XYZ"}}), 400,
                 "not a valid shipment.status"),
                (dict(document={**status_file(0), "colour": "red"}), 400,
                 "unknown field 'colour'"),
                (dict(document={**status_file(0), "ttl": -5}), 400,
                 "ttl must be a positive number of seconds, got -5"),
            ]
            with caplog.at_level(logging.DEBUG):
                for kwargs, expected, sentence in cases:
                    code, answer = await post(url, **kwargs)
                    assert (code, sentence in answer["error"]) == (expected, True), answer
                code, _ = await get(f"{url}/whatever", token="guessed-token")
                assert code == 401
            assert "guessed-token" not in caplog.text and TOKEN not in caplog.text
            assert errors(net, SENDER, harness.name, "input", "permanent") == 6
            await harness.emit(5)
            [kept] = await wait_taken(harness, 1)
            assert kept["body"]["note"] == "update 5"

    run(scenario())


def test_oversize_streamed_body_without_length_is_refused(harness: HttpHarness,
                                                          tmp_path: Path) -> None:
    """Given a chunked body with no Content-Length, the limit still holds: 413."""
    async def chunks():
        for _ in range(40):
            yield b" " * 65536

    async def scenario() -> None:
        async with running(harness, tmp_path):
            code, answer = await post(await harness.api(), data=chunks())
            assert code == 413 and "max_bytes" in answer["error"]

    run(scenario())


def test_webhook_that_times_out_or_is_down_is_transient(tmp_path: Path) -> None:
    """Given a receiver slower than the timeout, then none at all, delivery raises
    TransientError (the hub retries); a 3xx or 404 raises PermanentError."""
    receiver = Receiver()

    async def scenario() -> None:
        await receiver.start()
        hook = Webhook(WebhookConfig(url=receiver.url, secret={"value": SECRET},
                                     timeout="300ms"))
        try:
            receiver.delay = 1.0
            with pytest.raises(TransientError, match="unreachable"):
                await hook.post(envelope())
            receiver.delay, receiver.answer = 0.0, 429
            with pytest.raises(TransientError, match="answered 429"):
                await hook.post(envelope())
            receiver.answer = 404
            with pytest.raises(PermanentError, match="answered 404: told to answer 404"):
                await hook.post(envelope())
            await receiver.stop()
            with pytest.raises(TransientError, match="unreachable"):
                await hook.post(envelope())
        finally:
            await hook.close()
            await receiver.stop()

    run(scenario())


def test_client_certificate_authentication(tmp_path: Path) -> None:
    """Given the API on HTTPS requiring client certificates from a local CA (made with
    hub.security.pki), a client with such a certificate is let in; one without, or with a
    certificate from another CA, is refused in the handshake; one whose name is not in
    allowed_clients gets 401."""
    pki.init_ca(tmp_path / "local-ca")
    server_cert, server_key = pki.issue(tmp_path / "local-ca", "api-server", tmp_path / "srv")
    tos_cert, tos_key = pki.issue(tmp_path / "local-ca", "tos-gateway", tmp_path / "tos")
    other_cert, other_key = pki.issue(tmp_path / "local-ca", "rail-gateway", tmp_path / "rail")
    pki.init_ca(tmp_path / "foreign-ca")
    foreign_cert, foreign_key = pki.issue(tmp_path / "foreign-ca", "tos-gateway",
                                          tmp_path / "foreign")
    harness = HttpHarness(tmp_path)
    token_settings = harness.adapters

    def tls_settings() -> dict:
        settings = token_settings()
        settings[SENDER][harness.name] = {
            "kind": "http", "listen": "127.0.0.1:0",
            "tls": {"cert": str(server_cert), "key": str(server_key),
                    "ca": str(tmp_path / "local-ca" / "ca.crt"),
                    "allowed_clients": ["tos-gateway"]}}
        return settings

    harness.adapters = tls_settings  # type: ignore[method-assign]

    def client(cert: Path | None, key: Path | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(tmp_path / "local-ca" / "ca.crt"))
        # pki issues hub certificates for client use only, so the server's cannot pass a
        # client's server-purpose check; what is tested here is the server's check of us.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(str(cert), str(key))
        return context

    async def scenario() -> None:
        async with running(harness, tmp_path):
            url = (await harness.api()).replace("http://", "https://")
            code, answer = await post(url, status_file(1), token=None,
                                      ssl_context=client(tos_cert, tos_key))
            assert code == 202, answer
            code, answer = await post(url, status_file(1), token=None,
                                      ssl_context=client(other_cert, other_key))
            assert code == 401 and "rail-gateway is not allowed" in answer["error"]
            for cert, key in ((None, None), (foreign_cert, foreign_key)):
                with pytest.raises(aiohttp.ClientError):
                    await post(url, status_file(1), token=None, ssl_context=client(cert, key))
            [kept] = await wait_taken(harness, 1)
            assert kept["body"] == status(1)

    run(scenario())


def test_tokens_come_from_the_environment_or_a_file(tmp_path: Path, monkeypatch) -> None:
    from adapters.http.api import Api
    from adapters.http.config import HttpConfig

    monkeypatch.setenv("TOS_TOKEN", "from-env")
    (tmp_path / "token").write_text("from-file\n")
    config = HttpConfig(kind="http", tokens=[{"env": "TOS_TOKEN"},
                                             {"file": str(tmp_path / "token")}])
    assert Api("tos", config, hub=None)._tokens == [b"from-env", b"from-file"]
    monkeypatch.delenv("TOS_TOKEN")
    with pytest.raises(ConfigError, match="TOS_TOKEN is not set"):
        Api("tos", config, hub=None)


def test_config_refuses_an_api_without_authentication() -> None:
    from adapters.http.config import HttpConfig

    with pytest.raises(ValueError, match="an API without authentication is refused"):
        HttpConfig(kind="http")
    with pytest.raises(ValueError, match="listen must be an IP address and port"):
        HttpConfig(kind="http", listen="localhost", tokens=[{"value": "x"}])
    with pytest.raises(ValueError, match="url must be an http:// or https:// address"):
        HttpConfig(kind="http", listen=None, receives=["*"],
                   webhook={"url": "ftp://x", "secret": {"value": "s"}})
