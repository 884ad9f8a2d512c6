"""The hub's configuration: one typed model, loaded from YAML with file:line in every error."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      ValidationInfo, field_validator, model_validator)

from . import transports
from .envelope import HUB_ID
from .errors import ConfigError
from .transports.base import TransportSettings

_ADAPTER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")  # \Z: "$" passes a final newline
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
MAX_DURATION = 3650 * 86400.0  # ten years: any longer is a typo, and dates overflow by 9999
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``500ms``, ``30s``, ``10m``, ``7d``."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '30s'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 30s, 10m, 2h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if math.isnan(seconds):  # NaN compares false with everything: a check would never fire
        raise ValueError("a duration must be a number of seconds, not NaN")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"a duration is at most 3650d, got {value!r}")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _duration_fields(*names: str):
    return field_validator(*names, mode="before")(lambda cls, v: parse_duration(v))


class HubSection(_Model):
    id: str
    data_dir: Path
    key: Path
    cert: Path
    ca: Path
    crl: Path | None = None
    crl_refresh: float = 3600.0  # seconds between re-reads of the CRL file; 0 = only on reload
    _d = _duration_fields("crl_refresh")

    @field_validator("id")
    @classmethod
    def _hub_id(cls, value: str) -> str:
        if not HUB_ID.match(value):
            raise ValueError("a hub id is 2-32 characters: lower-case letters, digits, '-'")
        return value


def _transport(value: Any) -> TransportSettings:
    if isinstance(value, TransportSettings):
        return value
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError("a transport needs a 'kind' (memory, amqp or mqtt)")
    try:
        kind = transports.load(str(value["kind"]))
    except ConfigError as exc:  # a ValueError lets pydantic name the key and the line
        raise ValueError(str(exc)) from None
    return kind.settings.model_validate(value)


def _adapter(value: Any) -> Any:
    from .plugins import adapter_config

    try:
        return adapter_config(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class PeerConfig(_Model):
    transport: Any
    may_send: list[str] = Field(default_factory=list)
    encryption_cert: Path | None = None  # the peer's encryption certificate (else peer_certs)

    _t = field_validator("transport", mode="before")(lambda cls, v: _transport(v))


class Route(_Model):
    type: str
    to: Literal["all"] | list[str]
    encrypt: bool = False  # these types are encrypted to and from these peers

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) and value != "all" else value


class EncryptionSection(_Model):
    """End-to-end encryption (docs/security.md): this hub's decryption keys, where its peers'
    encryption certificates are, and the types encrypted with every peer."""

    key: Path | None = None             # this hub's current X25519 key (<hub>-enc.key)
    cert: Path | None = None            # its certificate (<hub>-enc.crt), given to the peers
    previous_keys: list[Path] = Field(default_factory=list)  # still opened during a rollover
    peer_certs: Path | None = None      # a folder of the peers' encryption certificates
    types: list[str] = Field(default_factory=list)  # encrypted with every peer, both ways

    @model_validator(mode="after")
    def _key_with_cert(self) -> "EncryptionSection":
        if (self.key is None) != (self.cert is None):
            raise ValueError("key and cert go together: the certificate of the key")
        if self.previous_keys and self.key is None:
            raise ValueError("previous_keys need a current key")
        return self


class Limits(_Model):
    # At least 8 KiB: a receipt of 16 entries must fit (docs/protocol.md).
    max_message_bytes: int = Field(1_048_576, ge=8192, le=64 * 1_048_576)
    # Messages larger than this travel deflated where the transport can say so and it pays
    # (hub/transports/encoding.py); 0 sends everything as it is.
    compress_above: int = Field(16_384, ge=0)
    clock_skew: float = 300.0
    default_ttl: float = 7 * 86400.0
    _d = _duration_fields("clock_skew", "default_ttl")


class Retry(_Model):
    receipt_timeout: float = 30.0    # first resend when no receipt came back
    maximum: float = 600.0           # longest wait between resends
    window: int = Field(200, ge=1, le=100_000)  # unreceipted messages in flight per peer
    write_timeout: float = 30.0      # a broker confirm slower than this counts as a lost link
    reconnect_initial: float = 1.0
    reconnect_maximum: float = 60.0
    handover_initial: float = 5.0
    handover_attempts: int = Field(20, ge=1)
    _d = _duration_fields("receipt_timeout", "maximum", "write_timeout", "reconnect_initial",
                          "reconnect_maximum", "handover_initial")


class HttpSection(_Model):
    enabled: bool = True
    listen: str = "127.0.0.1:9464"  # loopback by default: metrics and status are not public

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        from .http import parse_listen

        parse_listen(value)
        return value


class LogSection(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"


class HubConfig(_Model):
    hub: HubSection
    inbox: Any
    peers: dict[str, PeerConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    adapters: dict[str, Annotated[Any, BeforeValidator(_adapter)]] = Field(default_factory=dict)
    http: HttpSection = Field(default_factory=HttpSection)
    log: LogSection = Field(default_factory=LogSection)
    limits: Limits = Field(default_factory=Limits)
    retry: Retry = Field(default_factory=Retry)
    encryption: EncryptionSection = Field(default_factory=EncryptionSection,
                                          validate_default=True)

    _t = field_validator("inbox", mode="before")(lambda cls, v: _transport(v))

    @field_validator("encryption")
    @classmethod
    def _keys_for_encryption(cls, value: EncryptionSection, info: ValidationInfo
                             ) -> EncryptionSection:
        encrypting = [f"routes: {r.type!r}" for r in info.data.get("routes", []) if r.encrypt]
        if value.types:
            encrypting.insert(0, "encryption.types")
        if encrypting and value.key is None:
            raise ValueError(f"{encrypting[0]} asks for encryption, so this hub needs "
                             "encryption.key and encryption.cert to open what it requires "
                             "encrypted")
        return value

    @field_validator("adapters", mode="before")
    @classmethod
    def _adapter_names(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("adapters is a mapping of adapter names to their settings")
        for name in value:
            if not isinstance(name, str) or not _ADAPTER_NAME.match(name):
                raise ValueError(f"adapter name {name!r}: use letters, digits, '-' and '_'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "HubConfig":
        for peer in self.peers:
            if not HUB_ID.match(peer):
                raise ValueError(f"peer id {peer!r} is not a valid hub id")
            if peer == self.hub.id:
                raise ValueError(f"peers: {peer!r} is this hub itself")
        for route in self.routes:
            for target in route.to if route.to != "all" else []:
                if target not in self.peers:
                    raise ValueError(f"routes: {route.type!r} goes to {target!r}, "
                                     f"which is not among the peers")
        return self


# -- loading with line numbers --------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that remembers the line of every mapping key and sequence item."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # A scalar the resolver took for a date or a number that is none (2026-13-45,
            # !!int x): PyYAML lets the ValueError out, without the place.
            raise yaml.constructor.ConstructorError(
                None, None, f"{exc} ({node.value!r})" if isinstance(node, yaml.ScalarNode)
                else str(exc), node.start_mark) from None


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or a mapping",
                key_node.start_mark)
        if key in mapping:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    loader.lines[id(mapping)] = (mapping, lines)
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(data: Any, loc: tuple, lines: dict) -> int | None:
    line = None
    node = data
    for part in loc:
        entry = lines.get(id(node))
        if entry and isinstance(node, dict) and part in node:
            line = entry[1][part]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return line


def load_config(path: Path | str) -> HubConfig:
    """Read and validate ``path``; raise ``ConfigError`` with file:line: key: problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text: byte {exc.start} is invalid") \
            from None
    loader = None
    try:
        loader = _LineLoader(text)  # the reader already refuses control characters
        loader.lines = {}
        data = loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise ConfigError(f"{path}:{line}: not valid YAML: {exc.reason} "
                          f"(character {exc.character!r})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}:{str(exc)[5:]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping")
    return validate_config(data, path, loader.lines)


def validate_config(data: dict, path: Path | str = "<config>", lines: dict | None = None
                    ) -> HubConfig:
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            # repr for a key with a control character: the message is one line per error
            key = ".".join(str(p) if str(p).isprintable() else repr(p) for p in loc) or "(top)"
            line = _line_of(data, loc, lines or {})
            where = f"{path}:{line}" if line else str(path)
            text = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                text = "unknown key"
            messages.append(f"{where}: {key}: {text}")
        raise ConfigError("\n".join(messages)) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
