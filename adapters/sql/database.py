"""One connection to the local system's database, whichever it is: transactions of ``fetch``
and ``execute`` calls, with every driver error turned into ``TransientError`` (connection
lost, lock or busy timeout: try again later) or ``PermanentError`` (bad query, missing table,
constraint: the operator has to look).

``postgres.py`` (psycopg 3, async, no thread) and ``sqlite.py`` (stdlib, in a worker thread)
implement it; each knows the built-in table layout and default queries of its dialect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, AsyncContextManager

from hub.errors import ConfigError

from .config import SqlConfig


@dataclass(frozen=True)
class Dialect:
    """The built-in layout and queries; ``{table}`` is the configured table name."""

    create_outbox: str
    create_inbox: str
    poll: str
    mark: str
    insert: str


class Session(ABC):
    """What one transaction can do."""

    @abstractmethod
    async def fetch(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def execute(self, sql: str, params: dict[str, Any]) -> int:
        """Run a statement; the number of rows it changed."""


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    def transaction(self) -> AsyncContextManager[Session]:
        """Connect if needed, begin; commit on leaving, roll back on an exception. Only one
        transaction at a time per ``Database`` (callers take turns)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the database is, for messages (never a password)."""


def open_database(config: SqlConfig) -> Database:
    if config.is_sqlite:
        from .sqlite import SqliteDatabase

        return SqliteDatabase(config)
    try:
        from .postgres import PostgresDatabase  # psycopg is needed only here
    except ImportError as exc:
        raise ConfigError(f"the sql adapter needs psycopg for PostgreSQL ({exc}): "
                          "pip install 'porthub[postgres]'") from None
    return PostgresDatabase(config)
