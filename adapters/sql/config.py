"""The sql adapter's settings."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from hub.adapter import AdapterConfig

from ..common.settings import durations, integers

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?\Z")
SQLITE = "sqlite://"


class SqlConfig(AdapterConfig):
    """An outbox table polled for messages to send, an inbox table written with received ones.

    Queries use the driver's named parameters: ``%(name)s`` on PostgreSQL, ``:name`` on
    SQLite."""

    sample_values: ClassVar[dict] = {"receives": ["customs.*"]}

    dsn: str = Field(description="postgresql://user@host:5432/db (or a libpq key=value "
                                 "string; keep the password in PGPASSFILE) or "
                                 "sqlite:///absolute/path.db",
                     examples=["postgresql://porthub@127.0.0.1:5432/tos"])
    outbox_table: str | None = Field(
        None, description="poll this table of the built-in layout (id, type, recipient, "
                          "correlation_id, body, created_at, taken_at, message_id, error)",
        examples=["porthub_outbox"])
    poll_query: str | None = Field(
        None, description="instead of outbox_table: a query returning untaken rows with "
                          "columns id, type, body and optionally recipient, correlation_id, "
                          "ttl; parameter batch. Lock the rows (FOR UPDATE SKIP LOCKED)",
        json_schema_extra={"sample": "commented"},
        examples=["SELECT id, kind AS type, payload AS body FROM tos_out WHERE sent IS NULL "
                  "ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED"])
    mark_query: str | None = Field(
        None, description="with poll_query: marks one row taken, in the same transaction; "
                          "parameters id, message_id (the ids, space-separated; null for a "
                          "bad row) and error (null, or why the row was not sent)",
        json_schema_extra={"sample": "commented"},
        examples=["UPDATE tos_out SET sent = now(), porthub_id = %(message_id)s, "
                  "problem = %(error)s WHERE id = %(id)s"])
    poll_interval: float = Field(1.0, description="seconds between polls when the last one "
                                                  "found nothing")
    batch: int = Field(100, description="most rows taken in one transaction")
    inbox_table: str = Field("porthub_inbox",
                             description="table of the built-in layout (message_id primary key, "
                                         "type, sender, correlation_id, body, received_at) "
                                         "that received messages are inserted into")
    insert_query: str | None = Field(
        None, description="instead of inbox_table: an idempotent insert (ON CONFLICT "
                          "(message_id) DO NOTHING) with parameters message_id, type, sender, "
                          "correlation_id, created, body (JSON text)",
        json_schema_extra={"sample": "commented"},
        examples=["INSERT INTO tos_in (msg_id, kind, payload) VALUES (%(message_id)s, "
                  "%(type)s, %(body)s) ON CONFLICT (msg_id) DO NOTHING"])
    create_tables: bool = Field(True, description="create outbox_table and inbox_table with "
                                                  "the built-in layout if they are missing")
    timeout: float = Field(10.0, description="seconds to wait for a connection or a lock "
                                             "before trying again later")

    _durations = durations("poll_interval", "timeout")
    _batch = integers("batch", minimum=1, maximum=10_000)

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        if value.startswith(SQLITE):
            if not PurePosixPath(value[len(SQLITE):]).is_absolute():
                raise ValueError(f"dsn: an SQLite database is sqlite:///absolute/path.db, "
                                 f"got {value!r}")
        elif not (value.startswith(("postgresql://", "postgres://")) or "=" in value):
            raise ValueError("dsn must be postgresql://..., a libpq key=value string or "
                             "sqlite:///absolute/path.db")
        return value

    @field_validator("outbox_table", "inbox_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not _TABLE.match(value):
            raise ValueError(f"a table name is letters, digits and '_' (schema.table allowed), "
                             f"got {value!r}")
        return value

    @model_validator(mode="after")
    def _sides(self) -> "SqlConfig":
        if self.outbox_table and self.poll_query:
            raise ValueError("give outbox_table or poll_query (with mark_query), not both")
        if (self.poll_query is None) != (self.mark_query is None):
            raise ValueError("poll_query and mark_query go together: the rows a poll takes "
                             "must be marked in the same transaction")
        if self.insert_query is not None and not self.receives:
            raise ValueError("insert_query is set but receives is empty: name the message "
                             "types to insert, e.g. receives: ['customs.*']")
        if not (self.polls or self.receives):
            raise ValueError("give outbox_table (or poll_query), receives, or both")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.dsn.startswith(SQLITE)

    @property
    def polls(self) -> bool:
        return bool(self.outbox_table or self.poll_query)
