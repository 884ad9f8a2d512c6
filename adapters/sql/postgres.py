"""PostgreSQL through psycopg 3's ``AsyncConnection``: the queries run on the hub's event
loop, no thread. Rows are taken with ``FOR UPDATE SKIP LOCKED``, so several pollers (or a hub
and a legacy job) never take the same row."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from hub.errors import ConfigError, PermanentError, TransientError

from .config import SqlConfig
from .database import Database, Dialect, Session

DIALECT = Dialect(
    create_outbox="""CREATE TABLE IF NOT EXISTS {table} (
        id BIGSERIAL PRIMARY KEY,
        type TEXT NOT NULL,
        recipient TEXT,
        correlation_id TEXT,
        body JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        taken_at TIMESTAMPTZ,
        message_id TEXT,
        error TEXT)""",
    create_inbox="""CREATE TABLE IF NOT EXISTS {table} (
        message_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        sender TEXT NOT NULL,
        correlation_id TEXT,
        body JSONB NOT NULL,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
    poll="SELECT id, type, recipient, correlation_id, body FROM {table}"
         " WHERE taken_at IS NULL ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED",
    mark="UPDATE {table} SET taken_at = now(), message_id = %(message_id)s,"
         " error = %(error)s WHERE id = %(id)s",
    insert="INSERT INTO {table} (message_id, type, sender, correlation_id, body)"
           " VALUES (%(message_id)s, %(type)s, %(sender)s, %(correlation_id)s, %(body)s)"
           " ON CONFLICT (message_id) DO NOTHING",
)


class _PgSession(Session):
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = await self.conn.execute(sql, params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: dict[str, Any]) -> int:
        cursor = await self.conn.execute(sql, params)
        return cursor.rowcount


class PostgresDatabase(Database):
    dialect = DIALECT

    def __init__(self, config: SqlConfig) -> None:
        self.dsn = config.dsn
        self.timeout = config.timeout
        try:
            info = conninfo_to_dict(config.dsn)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"dsn is not a valid PostgreSQL connection string: {exc}") from None
        self._where = f"postgresql {info.get('host', 'localhost')}:{info.get('port', 5432)}" \
                      f"/{info.get('dbname', '')}"
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        return self._where

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._lock:
            try:
                conn = await self._connect()
                async with conn.transaction():
                    yield _PgSession(conn)
            except psycopg.OperationalError as exc:
                # Connection lost, server restarting, lock or statement timeout: later.
                await self.close()
                raise TransientError(f"{self._where}: {_first_line(exc)}") from None
            except psycopg.InterfaceError as exc:
                await self.close()
                raise TransientError(f"{self._where}: {_first_line(exc)}") from None
            except psycopg.Error as exc:
                raise PermanentError(f"{self._where}: {_first_line(exc)}") from None

    async def _connect(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, row_factory=dict_row,
                connect_timeout=max(1, round(self.timeout)))
            milliseconds = int(self.timeout * 1000)  # a legacy job holding a lock: try later
            await conn.execute(f"SET lock_timeout = {milliseconds}")
            await conn.execute(f"SET statement_timeout = {milliseconds}")
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
