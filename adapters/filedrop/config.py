"""The filedrop adapter's settings."""

from __future__ import annotations

import string
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from hub.adapter import AdapterConfig

from ..common.codecs import CodecSettings
from ..common.settings import durations, integers

NAME_FIELDS = ("id", "type", "sender", "correlation_id", "created", "ext")


class FiledropConfig(CodecSettings, AdapterConfig):
    """A hot folder in (``inbox_dir``) and/or out (``outbox_dir``)."""

    sample_values: ClassVar[dict] = {"receives": ["vessel.*", "terminal.*"]}

    inbox_dir: Path | None = Field(
        None, description="folder the local system drops files into; each complete file "
                          "becomes one or more messages", examples=["/srv/porthub/tos/in"])
    work_dir: Path | None = Field(
        None, description="where processing/, done/ and failed/ are made (the same file "
                          "system as inbox_dir, so moves are renames); default: inbox_dir")
    pattern: str = Field("*", description="glob of the file names to take; dotfiles are "
                                          "never taken")
    ignore: list[str] = Field(["*.tmp", "*.part"],
                              description="globs of file names still being written, never taken")
    poll_interval: float = Field(1.0, description="seconds between looks at inbox_dir")
    settle_time: float = Field(
        2.0, description="a file is complete once its size and modification time have not "
                         "changed for this long (a file moved into place is usually older)")
    max_bytes: int = Field(1_048_576, description="larger files go to failed/ as too_large "
                                                  "without being read into memory")
    outbox_dir: Path | None = Field(
        None, description="folder inbound messages (those matching receives) are written to",
        examples=["/srv/porthub/tos/out"])
    file_name: str = Field(
        "{type}_{id}.{ext}",
        description=f"name of each written file; fields: {', '.join(NAME_FIELDS)} (json, or "
                    "edi or xml for what encode writes). Keep {id} in it: the id in the name "
                    "is what recognises a repeated delivery (required with encode)")

    _durations = durations("poll_interval")
    _settle = durations("settle_time", allow_zero=True)
    _bytes = integers("max_bytes", minimum=1, maximum=1 << 40)

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        try:
            used = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"file_name is not a valid template: {exc}") from None
        unknown = [f for f in used if f not in NAME_FIELDS]
        if unknown:
            raise ValueError(f"file_name uses {{{unknown[0]}}}; the fields are "
                             f"{', '.join(NAME_FIELDS)}")
        if "/" in value or "\\" in value or value.startswith("."):
            raise ValueError(f"file_name must be a plain file name (no folders, not a "
                             f"dotfile), got {value!r}")
        return value

    @model_validator(mode="after")
    def _sides(self) -> "FiledropConfig":
        if self.inbox_dir is None and self.outbox_dir is None:
            raise ValueError("give inbox_dir, outbox_dir or both")
        if self.receives and self.outbox_dir is None:
            raise ValueError("receives is set, so outbox_dir is needed to write those messages")
        if self.outbox_dir is not None and not self.receives:
            raise ValueError("outbox_dir is set but receives is empty: name the message types "
                             "to write there, e.g. receives: ['customs.*']")
        if self.work_dir is not None and self.inbox_dir is None:
            raise ValueError("work_dir is only used with inbox_dir")
        if self.encode and "{id}" not in self.file_name:
            raise ValueError("file_name must contain {id} when encode is set: an encoded file "
                             "is recognised as a repeated delivery by its name only")
        return self

    @property
    def work(self) -> Path:
        assert self.inbox_dir is not None
        return self.work_dir or self.inbox_dir
