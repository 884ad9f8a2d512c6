"""The hub's durable store: outbox, inbox, message history, rejections and the audit log.

Every public coroutine is one operation of the group-committing ``Writer``: when it returns,
what it wrote is on disk. States (docs/operations.md):

* outgoing: ``queued`` -> ``sent`` -> ``delivered`` | ``rejected`` | ``expired`` | ``dead_lettered``
* incoming: ``received`` -> ``handed_over`` | ``dead_lettered``
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable

from . import audit
from .writer import Writer

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    id TEXT NOT NULL,
    peer TEXT NOT NULL,
    type TEXT NOT NULL,
    correlation_id TEXT,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    digest TEXT NOT NULL,
    jws BLOB NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL,
    receipt BLOB,
    source TEXT,
    updated REAL NOT NULL,
    receipt_ref TEXT,
    PRIMARY KEY (direction, id)
);
CREATE TABLE IF NOT EXISTS receipts (
    digest TEXT PRIMARY KEY,
    jws BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,
    ids TEXT NOT NULL,
    recipients TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (direction, peer, state, next_attempt);
CREATE INDEX IF NOT EXISTS messages_state ON messages (direction, state, expires);
CREATE INDEX IF NOT EXISTS messages_handover ON messages (next_attempt)
    WHERE direction = 'in' AND state = 'received';
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    direction TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id);
CREATE TABLE IF NOT EXISTS rejections (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    sender TEXT,
    message_id TEXT,
    detail TEXT,
    raw BLOB
);
"""

OUT_OPEN = ("queued", "sent")
TERMINAL = ("delivered", "rejected", "expired", "dead_lettered", "handed_over")
RAW_SAMPLE_BYTES = 4096  # how much of a rejected message is kept for the operator
# The primary key is (direction, id): naming both directions lets a look-up by id use it
# instead of reading the whole table (which made every look-up slower as the store grew).
BY_ID = "direction IN ('out', 'in') AND id = ?"


@dataclass(frozen=True)
class Outgoing:
    """A signed message about to enter the outbox."""

    id: str
    peer: str
    type: str
    correlation_id: str | None
    created: float
    expires: float
    digest: str
    jws: bytes


@dataclass(frozen=True)
class Incoming:
    """A verified message about to enter the inbox, with the receipt that answers it."""

    id: str
    sender: str
    type: str
    correlation_id: str | None
    created: float
    expires: float
    digest: str
    jws: bytes
    receipt: bytes


def _event(conn: sqlite3.Connection, direction: str, message_id: str, at: float, state: str,
           reason: str | None = None, detail: str | None = None) -> None:
    conn.execute("INSERT INTO events (direction, message_id, at, state, reason, detail)"
                 " VALUES (?, ?, ?, ?, ?, ?)", (direction, message_id, at, state, reason, detail))


def _row(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row)}


class Store:
    """Open (or create) the store at ``path``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path, self._init)

    @staticmethod
    def _init(conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA + audit.SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
        if "receipt_ref" not in columns:  # a store made before receipts covered many messages
            conn.execute("ALTER TABLE messages ADD COLUMN receipt_ref TEXT")

    def close(self) -> None:
        self._writer.close()

    @property
    def commits(self) -> int:
        return self._writer.commits

    @property
    def operations(self) -> int:
        return self._writer.operations

    # -- outbox ----------------------------------------------------------------------------
    async def add_outgoing(self, messages: Iterable[Outgoing], now: float,
                           idempotency_key: str | None = None,
                           source: str | None = None) -> tuple[list[str], list[str], bool]:
        """Queue signed messages; they are on disk when this returns.

        Returns ``(ids, recipients, new)``. With ``idempotency_key``, a key seen before
        returns the first submission's ids and recipients and queues nothing (``new`` False).
        """
        messages = list(messages)

        def op(conn: sqlite3.Connection) -> tuple[list[str], list[str], bool]:
            if idempotency_key is not None:
                found = conn.execute("SELECT ids, recipients FROM submissions WHERE key = ?",
                                     (idempotency_key,)).fetchone()
                if found:
                    return json.loads(found[0]), json.loads(found[1]), False
                conn.execute("INSERT INTO submissions (key, ids, recipients, at)"
                             " VALUES (?, ?, ?, ?)",
                             (idempotency_key, json.dumps([m.id for m in messages]),
                              json.dumps([m.peer for m in messages]), now))
            for m in messages:
                conn.execute(
                    "INSERT INTO messages (direction, id, peer, type, correlation_id, created,"
                    " expires, digest, jws, state, next_attempt, source, updated)"
                    " VALUES ('out', ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                    (m.id, m.peer, m.type, m.correlation_id, m.created, m.expires, m.digest,
                     m.jws, now, source, now))
                _event(conn, "out", m.id, now, "queued")
                audit.append(conn, now, "submitted", m.id, m.peer, type=m.type, digest=m.digest,
                             source=source)
            return [m.id for m in messages], [m.peer for m in messages], True

        return await self._writer.run(op)

    async def due_outgoing(self, peer: str, now: float, window: int,
                           writing: Collection[str] = ()
                           ) -> tuple[list[dict[str, Any]], float | None]:
        """Messages for ``peer`` to write now: sent ones whose receipt is overdue first, then
        queued ones, as many as fit in the free part of the in-flight ``window`` (sent messages
        still waiting for their receipt, and queued ones being written). Messages in
        ``writing`` (their write is out) are not due again until it ends. When none is due:
        also when one next falls due by time alone (a sent one's receipt overdue, a queued one
        postponed after a refusal; None: nothing is waiting), in the same operation.

        Queued messages come in submission order: ``next_attempt`` (their submission time,
        later only for one the broker refused) then id (a UUIDv7, docs/reliability.md). The
        index ``messages_due`` yields them in that order, so the query reads as many as it
        returns however long the queue: sorting a 100,000-message backlog by id alone took
        80 ms a query, and the drain after an outage crawled."""
        skip = json.dumps(list(writing))

        def op(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], float | None]:
            cur = conn.execute(
                "SELECT id, jws, state, attempts FROM messages WHERE direction = 'out'"
                " AND peer = ? AND state = 'sent' AND next_attempt <= ? AND expires > ?"
                " AND id NOT IN (SELECT value FROM json_each(?))"
                " ORDER BY next_attempt LIMIT ?", (peer, now, now, skip, window))
            rows = [_row(cur, r) for r in cur.fetchall()]
            in_flight = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND peer = ?"
                " AND state = 'sent'", (peer,)).fetchone()[0] + conn.execute(
                "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND +state = 'queued'"
                " AND id IN (SELECT value FROM json_each(?))", (skip,)).fetchone()[0]
            # (+state: look the ids up by primary key; through the state index SQLite read
            # every queued message, 37 ms a query with 100,000 queued)
            if in_flight < window:
                cur = conn.execute(
                    "SELECT id, jws, state, attempts FROM messages WHERE direction = 'out'"
                    " AND peer = ? AND state = 'queued' AND next_attempt <= ? AND expires > ?"
                    " AND id NOT IN (SELECT value FROM json_each(?))"
                    " ORDER BY next_attempt, id LIMIT ?",
                    (peer, now, now, skip, window - in_flight))
                rows += [_row(cur, r) for r in cur.fetchall()]
            if rows:
                return rows, None
            return rows, conn.execute(
                "SELECT MIN(next_attempt) FROM messages WHERE direction = 'out' AND peer = ?"
                " AND expires > ? AND (state = 'sent' OR (state = 'queued' AND next_attempt > ?))"
                " AND id NOT IN (SELECT value FROM json_each(?))",
                (peer, now, now, skip)).fetchone()[0]

        return await self._writer.run(op)

    async def count_outgoing(self, state: str) -> dict[str, int]:
        """Per peer, how many outgoing messages are in ``state``."""
        return dict(await self._writer.run(lambda conn: conn.execute(
            "SELECT peer, COUNT(*) FROM messages INDEXED BY messages_state"
            " WHERE direction = 'out' AND state = ? GROUP BY peer", (state,)).fetchall()))

    async def outbox_summary(self) -> tuple[dict[tuple[str, str], int], dict[str, float]]:
        """Per (peer, state) the number of open outgoing messages, and per peer the creation
        time of the oldest one."""

        def op(conn: sqlite3.Connection):
            depth = {(peer, state): n for peer, state, n in conn.execute(
                "SELECT peer, state, COUNT(*) FROM messages INDEXED BY messages_state"
                " WHERE direction = 'out' AND state IN ('queued', 'sent') GROUP BY peer, state")}
            oldest = dict(conn.execute(
                "SELECT peer, MIN(created) FROM messages INDEXED BY messages_state"
                " WHERE direction = 'out' AND state IN ('queued', 'sent') GROUP BY peer").fetchall())
            return depth, oldest

        return await self._writer.run(op)

    async def ping(self) -> None:
        """Prove the store is writable: take the write lock and commit."""
        await self._writer.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def mark_sent(self, sent: list[tuple[str, float]], now: float) -> list[str]:
        """Record that the broker took these messages; ``(id, next_attempt)`` pairs. Returns the
        ids that really moved (a receipt may have settled a message meanwhile)."""

        def op(conn: sqlite3.Connection) -> list[str]:
            moved = []
            for message_id, next_attempt in sent:
                cur = conn.execute(
                    "UPDATE messages SET state = 'sent', attempts = attempts + 1,"
                    " next_attempt = ?, updated = ? WHERE direction = 'out' AND id = ?"
                    " AND state IN ('queued', 'sent') RETURNING peer, attempts",
                    (next_attempt, now, message_id))
                row = cur.fetchone()
                if row is None:
                    continue
                moved.append(message_id)
                _event(conn, "out", message_id, now, "sent", detail=f"attempt {row[1]}")
                audit.append(conn, now, "sent", message_id, row[0], attempt=row[1])
            return moved

        return await self._writer.run(op)

    async def postpone(self, message_id: str, next_attempt: float, reason: str,
                       now: float) -> None:
        """A write was refused by the broker: try this message again later."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE messages SET next_attempt = ?, reason = ?, updated = ?,"
                         " attempts = attempts + 1 WHERE direction = 'out' AND id = ?"
                         " AND state IN ('queued', 'sent')",
                         (next_attempt, reason, now, message_id))
            _event(conn, "out", message_id, now, "postponed", reason)

        await self._writer.run(op)

    async def settle_outgoing(self, peer: str, entries: list[dict[str, Any]], receipt: bytes,
                              now: float) -> list[tuple[str, dict[str, Any] | None]]:
        """Apply a receipt from ``peer``: each of its ``entries`` (message_id, digest, outcome,
        reason). Returns ``(result, row)`` per entry, where result is ``settled``,
        ``already`` (a repeated receipt), ``unknown`` or ``mismatch`` (the entry names another
        peer or digest than the message we sent)."""
        ref = _sha(receipt)

        def settle(conn: sqlite3.Connection, entry: dict[str, Any]
                   ) -> tuple[str, dict[str, Any] | None]:
            message_id, reason = entry["message_id"], entry["reason"]
            cur = conn.execute("SELECT id, peer, type, correlation_id, digest, state, created,"
                               " attempts, source FROM messages WHERE direction = 'out'"
                               " AND id = ?", (message_id,))
            found = cur.fetchone()
            if found is None:
                return "unknown", None
            row = _row(cur, found)
            if row["peer"] != peer or row["digest"] != entry["digest"]:
                audit.append(conn, now, "receipt_mismatch", message_id, peer,
                             expected_peer=row["peer"], digest=entry["digest"])
                return "mismatch", row
            if row["state"] not in OUT_OPEN:
                return "already", row
            state = "delivered" if entry["outcome"] == "accepted" else "rejected"
            conn.execute("UPDATE messages SET state = ?, reason = ?, receipt_ref = ?,"
                         " updated = ? WHERE direction = 'out' AND id = ?",
                         (state, reason, ref, now, message_id))
            _event(conn, "out", message_id, now, state, reason)
            audit.append(conn, now, state, message_id, peer, reason=reason, receipt_digest=ref)
            return "settled", row

        def op(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any] | None]]:
            results = [settle(conn, entry) for entry in entries]
            if any(result == "settled" for result, _row in results):
                _keep_receipt(conn, ref, receipt)
            return results

        return await self._writer.run(op)

    async def expire_due(self, now: float) -> tuple[list[dict[str, Any]], float | None]:
        """Mark every open outgoing message past its expiry as ``expired``. Returns those
        rows and when the next open message expires (None: none is open)."""

        def op(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], float | None]:
            cur = conn.execute(
                "UPDATE messages SET state = 'expired', reason = 'expired', updated = ?"
                " WHERE direction = 'out' AND state IN ('queued', 'sent') AND expires <= ?"
                " RETURNING id, peer, state, source", (now, now))
            rows = [_row(cur, r) for r in cur.fetchall()]
            for row in rows:
                _event(conn, "out", row["id"], now, "expired", "expired")
                audit.append(conn, now, "expired", row["id"], row["peer"])
            return rows, _next_expiry(conn)

        return await self._writer.run(op)

    # -- inbox -----------------------------------------------------------------------------
    async def known_incoming(self, message_ids: Iterable[str]) -> set[str]:
        """Those of ``message_ids`` that are already in the inbox."""
        ids = json.dumps(list(message_ids))
        return await self._writer.run(lambda conn: {row[0] for row in conn.execute(
            "SELECT id FROM messages WHERE direction = 'in'"
            " AND id IN (SELECT value FROM json_each(?))", (ids,))})

    async def accept_incoming(self, messages: list[Incoming], schema_errors: list[str | None],
                              now: float) -> list[tuple[str, bytes | None]]:
        """Take verified messages into the inbox, each atomically with its duplicate check.

        Returns, per message, ``("accepted", None)``, ``("duplicate", original_receipt)`` or
        ``("schema_invalid", None)`` (recorded as a rejection, not stored as a message)."""

        def accept(conn: sqlite3.Connection, message: Incoming, schema_error: str | None
                   ) -> tuple[str, bytes | None]:
            if conn.execute("SELECT 1 FROM messages WHERE direction = 'in' AND id = ?",
                            (message.id,)).fetchone() is not None:
                audit.append(conn, now, "duplicate", message.id, message.sender,
                             digest=message.digest)
                return "duplicate", _receipt(conn, "in", message.id)
            if schema_error is not None:
                _reject(conn, now, "schema_invalid", message.sender, message.id, schema_error,
                        message.jws)
                return "schema_invalid", None
            ref = _sha(message.receipt)
            _keep_receipt(conn, ref, message.receipt)
            conn.execute(
                "INSERT INTO messages (direction, id, peer, type, correlation_id, created,"
                " expires, digest, jws, state, receipt_ref, next_attempt, updated)"
                " VALUES ('in', ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?, ?)",
                (message.id, message.sender, message.type, message.correlation_id,
                 message.created, message.expires, message.digest, message.jws,
                 ref, now, now))
            _event(conn, "in", message.id, now, "received")
            audit.append(conn, now, "received", message.id, message.sender, type=message.type,
                         digest=message.digest, receipt_digest=ref)
            return "accepted", None

        def op(conn: sqlite3.Connection) -> list[tuple[str, bytes | None]]:
            return [accept(conn, message, error)
                    for message, error in zip(messages, schema_errors, strict=True)]

        return await self._writer.run(op)

    async def record_rejection(self, reason: str, sender: str | None, message_id: str | None,
                               detail: str, raw: bytes, now: float) -> None:
        """Record an inbound message that failed a receive check."""
        await self._writer.run(
            lambda conn: _reject(conn, now, reason, sender, message_id, detail, raw))

    async def pending_handover(self, now: float, limit: int = 100
                               ) -> tuple[list[dict[str, Any]], float | None]:
        """Received messages waiting to be handed to a local system, through the partial index
        of exactly those (``messages_handover``): however many wait, the query reads as many
        as it returns. When none is due yet: also when the next one falls due (a retry's
        time; None if none is waiting)."""

        def op(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], float | None]:
            cur = conn.execute(
                "SELECT id, peer, type, jws, attempts FROM messages INDEXED BY messages_handover"
                " WHERE direction = 'in' AND state = 'received' AND next_attempt <= ?"
                " ORDER BY next_attempt, id LIMIT ?", (now, limit))
            rows = [_row(cur, r) for r in cur.fetchall()]
            return rows, None if rows else _next_handover(conn)

        return await self._writer.run(op)

    async def mark_handover(self, outcomes: list[tuple[str, str, str | None, float | None]],
                            now: float) -> float | None:
        """Record hand-over outcomes, each ``(message_id, state, reason, next_attempt)``:
        ``handed_over``, ``dead_lettered``, or a retry (``received`` with ``next_attempt``).
        Returns when the next received message falls due (None: none is waiting)."""

        def op(conn: sqlite3.Connection) -> float | None:
            for message_id, state, reason, next_attempt in outcomes:
                conn.execute("UPDATE messages SET state = ?, reason = ?, attempts = attempts + 1,"
                             " next_attempt = ?, updated = ? WHERE direction = 'in' AND id = ?",
                             (state, reason, next_attempt, now, message_id))
                _event(conn, "in", message_id, now, state, reason)
                if state != "received":
                    audit.append(conn, now, state, message_id, None, reason=reason)
            return _next_handover(conn)

        return await self._writer.run(op)

    # -- dead letters ----------------------------------------------------------------------
    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """What needs an operator: inbound messages the local system refused, outgoing ones
        rejected by the recipient or expired without a receipt."""

        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute(
                "SELECT direction, id, peer, type, correlation_id, state, reason, attempts,"
                " updated FROM messages WHERE (direction = 'in' AND state = 'dead_lettered')"
                " OR (direction = 'out' AND state IN ('rejected', 'expired', 'dead_lettered'))"
                " ORDER BY updated DESC LIMIT ?", (limit,))
            return [_row(cur, r) for r in cur.fetchall()]

        return await self._writer.run(op)

    async def requeue_incoming(self, message_id: str, now: float) -> bool:
        """Hand a dead-lettered inbound message to the local system again."""

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE messages SET state = 'received', attempts = 0,"
                               " next_attempt = ?, reason = NULL, updated = ? WHERE"
                               " direction = 'in' AND id = ? AND state = 'dead_lettered'",
                               (now, now, message_id))
            if cur.rowcount:
                _event(conn, "in", message_id, now, "received", "requeued by the operator")
                audit.append(conn, now, "requeued", message_id, None)
            return bool(cur.rowcount)

        return await self._writer.run(op)

    async def drop(self, message_id: str, now: float, note: str = "dropped by the operator"
                   ) -> bool:
        """Close a dead letter for good (it stays in the store and the audit log)."""

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"UPDATE messages SET state = 'dropped', reason = ?, updated = ? WHERE {BY_ID}"
                " AND ((direction = 'in' AND state = 'dead_lettered') OR (direction = 'out'"
                " AND state IN ('rejected', 'expired', 'dead_lettered'))) RETURNING direction",
                (note, now, message_id))
            rows = cur.fetchall()
            for (direction,) in rows:
                _event(conn, direction, message_id, now, "dropped", note)
                audit.append(conn, now, "dropped", message_id, None, note=note)
            return bool(rows)

        return await self._writer.run(op)

    async def outgoing_jws(self, message_id: str) -> bytes | None:
        row = await self._writer.run(lambda conn: conn.execute(
            "SELECT jws FROM messages WHERE direction = 'out' AND id = ?",
            (message_id,)).fetchone())
        return row[0] if row else None

    async def receipt(self, direction: str, message_id: str) -> bytes | None:
        """The receipt of a message: received (outgoing) or sent (incoming)."""
        return await self._writer.run(lambda conn: _receipt(conn, direction, message_id))

    # -- queries ---------------------------------------------------------------------------
    async def message(self, message_id: str) -> list[dict[str, Any]]:
        """Every record of ``message_id`` (outgoing and/or incoming) with its history."""
        return await self._writer.run(lambda conn: _message(conn, message_id))

    def message_sync(self, message_id: str) -> list[dict[str, Any]]:
        return self._writer.run_sync(lambda conn: _message(conn, message_id))

    async def rejections(self, limit: int = 100) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute("SELECT seq, at, reason, sender, message_id, detail FROM"
                               " rejections ORDER BY seq DESC LIMIT ?", (limit,))
            return [_row(cur, r) for r in cur.fetchall()]

        return await self._writer.run(op)

    async def verify_audit(self) -> audit.VerifyResult:
        return await self._writer.run(audit.verify)

    def verify_audit_sync(self) -> audit.VerifyResult:
        return self._writer.run_sync(audit.verify)


def _receipt(conn: sqlite3.Connection, direction: str, message_id: str) -> bytes | None:
    """The receipt kept for a message (one signed receipt may cover many messages; stores
    made before that kept each message's own in ``messages.receipt``)."""
    found = conn.execute(
        "SELECT COALESCE(r.jws, m.receipt) FROM messages m LEFT JOIN receipts r"
        " ON r.digest = m.receipt_ref WHERE m.direction = ? AND m.id = ?",
        (direction, message_id)).fetchone()
    return None if found is None else found[0]


def _next_handover(conn: sqlite3.Connection) -> float | None:
    """When the next received message falls due for hand-over, through the partial index of
    exactly those."""
    return conn.execute(
        "SELECT MIN(next_attempt) FROM messages INDEXED BY messages_handover"
        " WHERE direction = 'in' AND state = 'received'").fetchone()[0]


def _next_expiry(conn: sqlite3.Connection) -> float | None:
    """When the next open outgoing message expires, through the state index (one look per
    open state, however many messages wait)."""
    return conn.execute(
        "SELECT MIN(expires) FROM messages INDEXED BY messages_state"
        " WHERE direction = 'out' AND state IN ('queued', 'sent')").fetchone()[0]


def _keep_receipt(conn: sqlite3.Connection, ref: str, receipt: bytes) -> None:
    conn.execute("INSERT OR IGNORE INTO receipts (digest, jws) VALUES (?, ?)", (ref, receipt))


def _reject(conn: sqlite3.Connection, now: float, reason: str, sender: str | None,
            message_id: str | None, detail: str, raw: bytes) -> None:
    conn.execute("INSERT INTO rejections (at, reason, sender, message_id, detail, raw)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (now, reason, sender, message_id, detail[:1000], raw[:RAW_SAMPLE_BYTES]))
    audit.append(conn, now, "rejected", message_id, sender, reason=reason, detail=detail[:200],
                 size=len(raw))


def _message(conn: sqlite3.Connection, message_id: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT direction, id, peer, type, correlation_id, created, expires, digest, state,"
        f" reason, attempts, updated FROM messages WHERE {BY_ID}", (message_id,))
    records = [_row(cur, r) for r in cur.fetchall()]
    for record in records:
        cur = conn.execute("SELECT at, state, reason, detail FROM events WHERE message_id = ?"
                           " AND direction = ? ORDER BY seq", (message_id, record["direction"]))
        record["history"] = [_row(cur, r) for r in cur.fetchall()]
    return records


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
