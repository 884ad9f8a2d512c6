"""Secrets in configuration: given inline, from an environment variable or from a file.

The resolved value is a ``pydantic.SecretStr`` so that it never appears in a repr, a log line
or an error message.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from .errors import ConfigError


class SecretRef(BaseModel):
    """Exactly one of ``value``, ``env`` or ``file``."""

    model_config = ConfigDict(extra="forbid")

    value: SecretStr | None = None
    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "SecretRef":
        given = [k for k in ("value", "env", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, env or file")
        return self

    def resolve(self) -> SecretStr:
        if self.value is not None:
            return self.value
        if self.env is not None:
            if self.env not in os.environ:
                raise ConfigError(f"environment variable {self.env} is not set")
            return SecretStr(os.environ[self.env])
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from None
