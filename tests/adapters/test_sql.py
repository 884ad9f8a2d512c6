"""sql against real PostgreSQL (a throw-away schema per test) and real SQLite files: an outbox
row at aktau becomes an inbox row at baku exactly once; rows taken in the poll's transaction
with SKIP LOCKED; the idempotency key survives a crash between submit and commit; bad rows
are marked with their error while the others flow; a lost connection is retried."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.sql import postgres, sqlite
from adapters.sql.config import SqlConfig
from tests.adapters.conformance import (RECEIVER, SENDER, Conformance, EventLog, Harness,
                                        check_sample, errors, running, wait_taken)
from tests.core.bodies import STATUS, status
from tests.support.aio import run, wait_until
from tests.support.network import Network
from tests.support.postgres import connect, pg_schema  # noqa: F401 - a fixture

# The local systems own their tables here (made in SqlHarness.start), as they usually do.
FAST = {"poll_interval": "50ms", "timeout": "300ms", "create_tables": False}


class Db:
    """The test's own connection to one database, PostgreSQL or SQLite, with one style of
    parameters (``%(name)s`` is turned into ``:name`` for SQLite).

    Its calls block, so the scenarios make them in a worker thread (``Db.call``): a test
    waiting for a lock on the event loop would keep the adapter from releasing it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.is_sqlite = dsn.startswith("sqlite://")
        self.dialect = sqlite.DIALECT if self.is_sqlite else postgres.DIALECT
        self._locker: Any = None

    def _open(self) -> Any:
        if self.is_sqlite:
            return sqlite3.connect(self.dsn[len("sqlite://"):], isolation_level=None,
                                   check_same_thread=False)
        return connect(self.dsn, autocommit=True)

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, **kwargs)

    def run(self, sql: str, params: dict | None = None) -> list[tuple]:
        if self.is_sqlite:
            sql = sql.replace("%(", ":").replace(")s", "")
        conn = self._open()
        try:
            cursor = conn.execute(sql, params or {})
            return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def hold_lock(self, table: str) -> None:
        """Hold a lock that keeps writers of ``table`` out (readers may go on)."""
        self._locker = self._open()
        if self.is_sqlite:
            self._locker.execute("BEGIN IMMEDIATE")
        else:
            self._locker.execute("BEGIN")
            self._locker.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self._locker is not None:
            self._locker.rollback() if not self.is_sqlite else self._locker.execute("ROLLBACK")
            self._locker.close()
            self._locker = None


def insert_row(db: Db, n: int, **columns: Any) -> int:
    row = {"type": "shipment.status", "recipient": RECEIVER, "correlation_id": "AKTBAK250001",
           "body": json.dumps(status(n)), **columns}
    names = ", ".join(row)
    values = ", ".join(f"%({k})s" for k in row)
    [(row_id,)] = db.run(f"INSERT INTO porthub_outbox ({names}) VALUES ({values}) RETURNING id",
                         row)
    return row_id


class SqlHarness(Harness):
    name = "tos-db"

    def __init__(self, root: Path, dsns: dict[str, str]) -> None:
        super().__init__(root)
        self.outbox, self.inbox = Db(dsns[SENDER]), Db(dsns[RECEIVER])

    def adapters(self) -> dict:
        return {SENDER: {self.name: {"kind": "sql", "dsn": self.outbox.dsn,
                                     "outbox_table": "porthub_outbox", **FAST}},
                RECEIVER: {self.name: {"kind": "sql", "dsn": self.inbox.dsn,
                                       "receives": ["*"], **FAST}}}

    async def start(self) -> None:
        # The local systems own their tables; the adapter would create them too.
        await self.outbox.call(self.outbox.run,
                               self.outbox.dialect.create_outbox.format(table="porthub_outbox"))
        await self.inbox.call(self.inbox.run,
                              self.inbox.dialect.create_inbox.format(table="porthub_inbox"))

    async def stop(self) -> None:
        await self.inbox.call(self.inbox.release)

    async def emit(self, n: int) -> None:
        await self.outbox.call(insert_row, self.outbox, n)

    async def taken(self) -> list[dict]:
        table = "porthub_inbox_away" if await self.inbox.call(self._renamed) \
            else "porthub_inbox"
        rows = await self.inbox.call(self.inbox.run,
                                     "SELECT message_id, type, sender, correlation_id, body"
                                     f" FROM {table} ORDER BY received_at")
        return [{"id": r[0], "type": r[1], "from": r[2], "correlation_id": r[3],
                 "body": json.loads(r[4]) if isinstance(r[4], str) else r[4]} for r in rows]

    async def break_output(self) -> None:
        # a legacy batch job holding the table
        await self.inbox.call(self.inbox.hold_lock, "porthub_inbox")

    async def refuse_output(self) -> None:
        await self.inbox.call(self.inbox.run,
                              "ALTER TABLE porthub_inbox RENAME TO porthub_inbox_away")

    async def heal_output(self) -> None:
        await self.inbox.call(self._heal)

    def _heal(self) -> None:
        self.inbox.release()
        if self._renamed():
            self.inbox.run("ALTER TABLE porthub_inbox_away RENAME TO porthub_inbox")

    def _renamed(self) -> bool:
        if self.inbox.is_sqlite:
            away = self.inbox.run("SELECT name FROM sqlite_master WHERE name = %(t)s",
                                  {"t": "porthub_inbox_away"})
        else:
            away = self.inbox.run("SELECT to_regclass(%(t)s)", {"t": "porthub_inbox_away"})
        return bool(away and away[0][0])

    async def outbox_rows(self) -> list[tuple]:
        return await self.outbox.call(self.outbox.run,
                                      "SELECT id, taken_at IS NOT NULL, message_id, error"
                                      " FROM porthub_outbox ORDER BY id")


@pytest.fixture(params=["postgres", "sqlite"])
def dsns(request, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {hub: f"sqlite://{tmp_path}/{hub}-tos.db" for hub in (SENDER, RECEIVER)}
    make = request.getfixturevalue("pg_schema")
    return {hub: make(hub) for hub in (SENDER, RECEIVER)}


@pytest.fixture
def harness(tmp_path: Path, dsns: dict[str, str]) -> SqlHarness:
    return SqlHarness(tmp_path, dsns)


class TestSqlConformance(Conformance):
    pass  # with the harness fixture above, on PostgreSQL and SQLite


def test_sample_config_is_current_and_valid() -> None:
    check_sample("sql")


# -- beyond the conformance suite ---------------------------------------------------------------
def network(tmp_path: Path, aktau: dict | None, baku: dict | None) -> Network:
    adapters = {hub: {"tos-db": {"kind": "sql", **FAST, **settings}}
                for hub, settings in ((SENDER, aktau), (RECEIVER, baku)) if settings}
    return Network(tmp_path / "net", [SENDER, RECEIVER], adapters=adapters)


def test_bad_rows_are_marked_with_their_error_and_the_others_flow(harness: SqlHarness,
                                                                  tmp_path: Path) -> None:
    """Given rows with an unknown type, a body that fails its schema, no body, an unknown
    recipient (and on SQLite, a body that is not JSON) between good rows, each bad row is
    marked taken with a sentence saying why and no message id, counted; the good ones are
    delivered and marked with their ids. Nothing is deleted."""
    bad = [({"type": "shipment.statut"}, "Did you mean 'shipment.status'"),
           ({"body": json.dumps({**STATUS, "container": "XYZ"})}, "not a valid shipment.status"),
           ({"body": "null"}, "body is missing"),
           ({"recipient": "bakuu"}, "Unknown recipient 'bakuu'")]
    if harness.outbox.is_sqlite:
        bad.append(({"body": "{not json"}, "body is not valid JSON"))

    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            good = [await harness.outbox.call(insert_row, harness.outbox, 0)]
            ids = {await harness.outbox.call(insert_row, harness.outbox, 1, **columns): sentence
                   for columns, sentence in bad}
            good.append(await harness.outbox.call(insert_row, harness.outbox, 2))
            got = await wait_taken(harness, 2)
            assert sorted(m["body"]["note"] for m in got) == ["update 0", "update 2"]
            rows = {r[0]: r[1:] for r in await harness.outbox_rows()}
            assert len(rows) == 2 + len(bad)
            for row_id, sentence in ids.items():
                taken, message_id, error = rows[row_id]
                assert taken and message_id is None and sentence in error, (row_id, error)
            assert sorted(rows[r][1] for r in good) == sorted(m["id"] for m in got)
            assert errors(net, SENDER, "tos-db", "input", "permanent") == len(bad)

    run(scenario())


def test_crash_between_submit_and_commit_does_not_send_twice(harness: SqlHarness,
                                                              tmp_path: Path) -> None:
    """Given a row whose submit happened (with the adapter's key, '<adapter>:<row id>') but
    whose transaction never committed, the next poll takes the row again and the hub answers
    with the first submission: the row is marked with that id and baku gets one row."""
    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            # Keep the poller off the row (a lock, as an uncommitted poll would hold)...
            row_id = await harness.outbox.call(insert_row, harness.outbox, 4)
            await harness.outbox.call(harness.outbox.hold_lock, "porthub_outbox")
            handle = net.hubs[SENDER].adapters.adapters["tos-db"].hub
            first = await handle.submit("shipment.status", status(4), to=RECEIVER,
                                        correlation_id="AKTBAK250001",
                                        idempotency_key=f"tos-db:{row_id}")
            await asyncio.sleep(0.3)  # polls that found the row locked (or the file busy)
            await harness.outbox.call(harness.outbox.release)  # ...then "the crash" is over
            got = await wait_taken(harness, 1)
            await asyncio.sleep(0.5)  # a second copy, if any, would be here by now
            got = await harness.taken()
            assert [m["id"] for m in got] == first.ids
            [(_, taken, message_id, error)] = await harness.outbox_rows()
            assert taken and message_id == first.ids[0] and error is None

    run(scenario())


def test_two_pollers_never_take_the_same_row(pg_schema: Callable[[str], str],  # noqa: F811
                                             tmp_path: Path) -> None:
    """Given two adapters polling one PostgreSQL outbox table (FOR UPDATE SKIP LOCKED), each
    of 60 rows is sent exactly once (their idempotency keys differ, so a row taken by both
    would be sent twice)."""
    harness = SqlHarness(tmp_path, {SENDER: pg_schema("aktau"), RECEIVER: pg_schema("baku")})
    two = {SENDER: {name: {"kind": "sql", "dsn": harness.outbox.dsn, **FAST, "batch": 4,
                           "outbox_table": "porthub_outbox"} for name in ("poller-a", "poller-b")},
           RECEIVER: harness.adapters()[RECEIVER]}
    harness.adapters = lambda: two  # type: ignore[method-assign]

    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            for n in range(60):
                await harness.emit(n)
            got = await wait_taken(harness, 60, timeout=30)
            await asyncio.sleep(0.5)
            got = await harness.taken()
            assert sorted(m["body"]["note"] for m in got) == sorted(f"update {n}"
                                                                   for n in range(60))
            rows = await harness.outbox_rows()
            assert all(taken and message_id for _, taken, message_id, _ in rows)

    run(scenario())


def test_lost_connections_are_retried(pg_schema: Callable[[str], str],  # noqa: F811
                                      tmp_path: Path) -> None:
    """Given PostgreSQL dropping both adapters' connections (a restart of the server), the
    poller and the inbox writer reconnect: the next row still arrives, once."""
    harness = SqlHarness(tmp_path, {SENDER: pg_schema("aktau"), RECEIVER: pg_schema("baku")})
    names = [parse_qs(urlsplit(db.dsn).query)["application_name"][0]
             for db in (harness.outbox, harness.inbox)]

    async def scenario() -> None:
        async with running(harness, tmp_path) as (net, _log):
            await harness.emit(0)
            await wait_taken(harness, 1)
            with connect(autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE"
                    " application_name = ANY(%s)", [names]).fetchone()[0]
            assert killed == 2
            await harness.emit(1)
            got = await wait_taken(harness, 2)
            assert sorted(m["body"]["note"] for m in got) == ["update 0", "update 1"]
            assert errors(net, SENDER, "tos-db", "input", "transient") >= 1
            assert errors(net, RECEIVER, "tos-db", "output", "transient") >= 1

    run(scenario())


def test_unreachable_database_is_retried_not_fatal(tmp_path: Path) -> None:
    """Given a dsn where nothing listens, the input side fails transiently, again and again
    with back-off, and the hub keeps running."""
    net = network(tmp_path, {"dsn": "postgresql://postgres@127.0.0.1:9/test",
                             "outbox_table": "porthub_outbox"}, None)

    async def scenario() -> None:
        await net.start()
        try:
            await wait_until(lambda: errors(net, SENDER, "tos-db", "input", "transient") >= 2,
                             10, what="two failed connection attempts")
        finally:
            await net.stop()

    run(scenario())


def test_custom_queries_on_legacy_tables(pg_schema: Callable[[str], str],  # noqa: F811
                                         tmp_path: Path) -> None:
    """Given a legacy system's own tables and the queries that fit them, a row of its outbox
    reaches its inbox table at baku, and the outbox row is marked with the message id."""
    aktau, baku = Db(pg_schema("aktau")), Db(pg_schema("baku"))
    aktau.run("CREATE TABLE tos_out (seq SERIAL PRIMARY KEY, kind TEXT, payload TEXT,"
              " sent TIMESTAMPTZ, porthub_id TEXT, problem TEXT)")
    baku.run("CREATE TABLE tos_in (msg_id TEXT PRIMARY KEY, kind TEXT, payload TEXT)")
    net = network(tmp_path, {
        "dsn": aktau.dsn,
        "poll_query": "SELECT seq AS id, kind AS type, payload AS body, 'baku' AS recipient"
                      " FROM tos_out WHERE sent IS NULL ORDER BY seq LIMIT %(batch)s"
                      " FOR UPDATE SKIP LOCKED",
        "mark_query": "UPDATE tos_out SET sent = now(), porthub_id = %(message_id)s,"
                      " problem = %(error)s WHERE seq = %(id)s"}, {
        "dsn": baku.dsn, "receives": ["shipment.*"],
        "insert_query": "INSERT INTO tos_in (msg_id, kind, payload) VALUES (%(message_id)s,"
                        " %(type)s, %(body)s) ON CONFLICT (msg_id) DO NOTHING"})

    async def scenario() -> None:
        await net.start()
        try:
            await aktau.call(aktau.run, "INSERT INTO tos_out (kind, payload) VALUES"
                             " ('shipment.status', %(body)s)", {"body": json.dumps(status(9))})
            rows: list = []
            for _ in range(100):
                rows = await baku.call(baku.run, "SELECT msg_id, kind, payload FROM tos_in")
                if rows:
                    break
                await asyncio.sleep(0.05)
            [(msg_id, kind, payload)] = rows
            assert kind == "shipment.status" and json.loads(payload) == status(9)
            [(porthub_id, problem)] = await aktau.call(aktau.run,
                                                       "SELECT porthub_id, problem FROM tos_out")
            assert porthub_id == msg_id and problem is None
        finally:
            await net.stop()

    run(scenario())


def test_built_in_tables_are_created_when_missing(tmp_path: Path) -> None:
    """Given an empty SQLite file and create_tables, the adapter makes both tables."""
    dsn = f"sqlite://{tmp_path}/tos.db"
    net = network(tmp_path, {"dsn": dsn, "outbox_table": "porthub_outbox",
                             "create_tables": True}, None)

    async def scenario() -> None:
        await net.start()
        try:
            db = Db(dsn)
            await wait_until(lambda: db.run("SELECT name FROM sqlite_master WHERE"
                                            " name = 'porthub_outbox'"), 5)
        finally:
            await net.stop()

    run(scenario())


def test_config_errors_are_sentences_naming_the_key() -> None:
    with pytest.raises(ValueError, match="poll_query and mark_query go together"):
        SqlConfig(kind="sql", dsn="sqlite:///x.db", poll_query="SELECT 1")
    with pytest.raises(ValueError, match="an SQLite database is sqlite:///absolute/path.db"):
        SqlConfig(kind="sql", dsn="sqlite://relative.db", outbox_table="t")
    with pytest.raises(ValueError, match="a table name is letters, digits"):
        SqlConfig(kind="sql", dsn="sqlite:///x.db", outbox_table="t; DROP TABLE x")
    with pytest.raises(ValueError, match="batch must be from 1 to 10000, got 0"):
        SqlConfig(kind="sql", dsn="sqlite:///x.db", outbox_table="t", batch=0)
    with pytest.raises(ValueError, match="give outbox_table \\(or poll_query\\), receives"):
        SqlConfig(kind="sql", dsn="sqlite:///x.db")
