"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical JSON,
so changing, removing or reordering any entry breaks every hash after it. ``verify`` recomputes
the chain from the first entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

GENESIS = "0" * 64
# What json.dumps with these options writes, with the encoders built once, not every call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_DETAIL = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    message_id TEXT,
    peer TEXT,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def entry_hash(prev: str, seq: int, at: float, event: str, message_id: str | None,
               peer: str | None, detail: str) -> str:
    canonical = _CANONICAL.encode([seq, repr(at), event, message_id, peer, detail])
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


def append(conn: sqlite3.Connection, at: float, event: str, message_id: str | None = None,
           peer: str | None = None, **detail: object) -> None:
    """Append one entry (inside the caller's transaction).

    The last entry is read once a transaction: the writer's connection keeps it in its
    ``scratch`` (hub/store/writer.py), which is forgotten when a transaction begins or
    anything is rolled back, so that no other process's entries can be missed (none can write
    while this transaction holds the database) and no rolled-back entry is chained to."""
    scratch = getattr(conn, "scratch", {})
    head = scratch.get("audit_head")
    if head is None:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        head = (row[0], row[1]) if row else (0, GENESIS)
    seq, prev = head[0] + 1, head[1]
    text = _DETAIL.encode(detail)
    digest = entry_hash(prev, seq, at, event, message_id, peer, text)
    conn.execute(
        "INSERT INTO audit (seq, at, event, message_id, peer, detail, prev, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, event, message_id, peer, text, prev, digest))
    scratch["audit_head"] = (seq, digest)


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str = ""


def verify(conn: sqlite3.Connection) -> VerifyResult:
    """Recompute the whole chain; report the first entry that does not match."""
    prev, count, expected_seq = GENESIS, 0, 1
    for seq, at, event, message_id, peer, detail, stored_prev, stored_hash in conn.execute(
            "SELECT seq, at, event, message_id, peer, detail, prev, hash FROM audit ORDER BY seq"):
        if seq != expected_seq:
            return VerifyResult(False, count, seq, f"entry {expected_seq} is missing")
        if stored_prev != prev:
            return VerifyResult(False, count, seq, "link to the previous entry is broken")
        if entry_hash(prev, seq, at, event, message_id, peer, detail) != stored_hash:
            return VerifyResult(False, count, seq, "entry content does not match its hash")
        prev, count, expected_seq = stored_hash, count + 1, seq + 1
    return VerifyResult(True, count)
