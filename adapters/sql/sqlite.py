"""SQLite through the standard library's ``sqlite3``, each call in a worker thread
(``asyncio.to_thread``) so that a local system holding the database lock cannot stall the
hub's event loop. Transactions are short: ``BEGIN IMMEDIATE`` takes the write lock for one
poll (select, submit, mark) and no longer, which also keeps two pollers from taking the same
row (SQLite has no row locks)."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from hub.errors import PermanentError, TransientError

from .config import SQLITE, SqlConfig
from .database import Database, Dialect, Session

DIALECT = Dialect(
    create_outbox="""CREATE TABLE IF NOT EXISTS {table} (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        recipient TEXT,
        correlation_id TEXT,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        taken_at TEXT,
        message_id TEXT,
        error TEXT)""",
    create_inbox="""CREATE TABLE IF NOT EXISTS {table} (
        message_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        sender TEXT NOT NULL,
        correlation_id TEXT,
        body TEXT NOT NULL,
        received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))""",
    poll="SELECT id, type, recipient, correlation_id, body FROM {table}"
         " WHERE taken_at IS NULL ORDER BY id LIMIT :batch",
    mark="UPDATE {table} SET taken_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
         " message_id = :message_id, error = :error WHERE id = :id",
    insert="INSERT INTO {table} (message_id, type, sender, correlation_id, body)"
           " VALUES (:message_id, :type, :sender, :correlation_id, :body)"
           " ON CONFLICT (message_id) DO NOTHING",
)
# Result codes that clear by themselves: another writer holds the lock, the file is not
# there yet (a share not mounted), an I/O error, a full disk.
TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL",
             "SQLITE_PROTOCOL")


class _SqliteSession(Session):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        def op() -> list[dict[str, Any]]:
            cursor = self.conn.execute(sql, params)
            names = [c[0] for c in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

        return await asyncio.to_thread(op)

    async def execute(self, sql: str, params: dict[str, Any]) -> int:
        return await asyncio.to_thread(lambda: self.conn.execute(sql, params).rowcount)


class SqliteDatabase(Database):
    dialect = DIALECT

    def __init__(self, config: SqlConfig) -> None:
        self.path = config.dsn[len(SQLITE):]
        self.timeout = config.timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        return f"sqlite {self.path}"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._lock:
            try:
                conn = await asyncio.to_thread(self._begin)
                try:
                    yield _SqliteSession(conn)
                except BaseException:
                    await asyncio.to_thread(conn.rollback)
                    raise
                await asyncio.to_thread(conn.commit)
            except sqlite3.Error as exc:
                code = getattr(exc, "sqlite_errorname", "") or ""
                if code.startswith(TRANSIENT) or isinstance(exc, sqlite3.InterfaceError):
                    await self.close()
                    raise TransientError(f"sqlite {self.path}: {exc}") from None
                raise PermanentError(f"sqlite {self.path}: {exc}") from None

    def _begin(self) -> sqlite3.Connection:
        if self._conn is None:
            # One connection, used by one coroutine at a time (the lock), from worker threads.
            self._conn = sqlite3.connect(self.path, timeout=self.timeout,
                                         check_same_thread=False, isolation_level=None)
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)
