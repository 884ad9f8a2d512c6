"""The http adapter's settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.adapter import AdapterConfig
from hub.secrets import SecretRef

from ..common.codecs import CodecSettings
from ..common.settings import durations, integers


class TlsConfig(BaseModel):
    """HTTPS with client certificates: a client without a certificate issued by ``ca`` is
    refused during the handshake."""

    model_config = ConfigDict(extra="forbid")

    cert: Path = Field(description="the listener's certificate (PEM)",
                       examples=["/etc/porthub/api.crt"])
    key: Path = Field(description="its private key (PEM)", examples=["/etc/porthub/api.key"])
    ca: Path = Field(description="CA that issued the local systems' client certificates "
                                 "(a local CA, not the consortium's)",
                     examples=["/etc/porthub/local-ca.crt"])
    allowed_clients: list[str] = Field(
        [], description="common names of the client certificates let in; empty: any "
                        "certificate issued by ca")


class WebhookConfig(BaseModel):
    """Where inbound messages are POSTed."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="the local system's endpoint (http or https)",
                     examples=["http://127.0.0.1:9000/porthub"])
    secret: SecretRef = Field(description="key of the X-Porthub-Signature HMAC-SHA256 "
                                          "(value, env or file)",
                              examples=[{"env": "PORTHUB_WEBHOOK_SECRET"}])
    timeout: float = Field(10.0, description="seconds to wait for the answer; longer counts "
                                             "as down and is retried")

    _timeout = durations("timeout")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// address, got {value!r}")
        return value


class HttpConfig(CodecSettings, AdapterConfig):
    """A local REST API to submit and look up messages, and webhook delivery."""

    sample_values: ClassVar[dict] = {"receives": ["customs.*"]}

    listen: str | None = Field(
        "127.0.0.1:8081", description="host:port of the API listener (loopback by default); "
                                      "null: no API, webhook delivery only")
    tokens: list[SecretRef] = Field(
        [], description="bearer tokens that may use the API (value, env or file)",
        examples=[[{"env": "PORTHUB_API_TOKEN"}]])
    tls: TlsConfig | None = Field(
        None, description="serve HTTPS and require client certificates issued by ca (with "
                          "tokens: both needed); allowed_clients narrows them to these common "
                          "names",
        json_schema_extra={"sample": "commented"},
        examples=[{"cert": "/etc/porthub/api.crt", "key": "/etc/porthub/api.key",
                   "ca": "/etc/porthub/local-ca.crt", "allowed_clients": ["tos-gateway"]}])
    max_bytes: int = Field(1_048_576, description="largest request body; larger: 413")
    webhook: WebhookConfig | None = Field(
        None, description="deliver the messages matching receives by POSTing them here")

    _max = integers("max_bytes", minimum=1, maximum=64 << 20)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value

    @model_validator(mode="after")
    def _sides(self) -> "HttpConfig":
        if self.listen is not None and not self.tokens and self.tls is None:
            raise ValueError("the API needs tokens, tls (client certificates) or both; "
                             "an API without authentication is refused")
        if self.receives and self.webhook is None:
            raise ValueError("receives is set, so webhook is needed to deliver those messages")
        if self.webhook is not None and not self.receives:
            raise ValueError("webhook is set but receives is empty: name the message types "
                             "to deliver there, e.g. receives: ['customs.*']")
        if self.listen is None and self.webhook is None:
            raise ValueError("give listen, webhook or both")
        return self


def listen_address(value: str) -> tuple[str, int]:
    """``(host, port)`` from ``host:port`` or ``[v6]:port``; ValueError naming the key."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen must be an IP address and port like 127.0.0.1:8081, "
                         f"got {value!r}") from None
    if not sep or not 0 <= number <= 65535:
        raise ValueError(f"listen must be an IP address and port like 127.0.0.1:8081, "
                         f"got {value!r}")
    return host, number
