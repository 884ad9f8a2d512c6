"""Outcome files: ``<file>.outcome.json`` beside each file in done/ or failed/, telling the
local system what became of it, rewritten (atomically) as receipts come back.

The hub's store is the truth: an outcome file is always rebuilt from the current state of its
messages, so rewriting it again, late or out of order, never makes it wrong. A small index in
the adapter's state folder maps message ids to the outcome files that name them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hub.adapter import HubHandle
from hub.envelope import format_time, utc

from ..common.files import write_atomic

log = logging.getLogger(__name__)

SUFFIX = ".outcome.json"
# Why a file was not (wholly) submitted; stable: the local system may act on them.
TOO_LARGE, UNREADABLE, INVALID, REFUSED = "too_large", "unreadable", "invalid_content", "refused"
FAILED = "failed"
OPEN = ("queued", "sent")
# A file whose messages all ended reports the worst of their ends.
WORST_FIRST = ("rejected", "dead_lettered", "expired")
CHUNK = 500  # outcome files rewritten (and message ids looked up in the index) per step


def outcome_path(data_file: Path) -> Path:
    return data_file.with_name(data_file.name + SUFFIX)


def overall(states: list[str]) -> str:
    """One state for a file from its messages' states: ``submitted`` while any is open,
    ``delivered`` when all are, else the worst end."""
    if any(s in OPEN for s in states):
        return "submitted"
    if all(s == "delivered" for s in states):
        return "delivered"
    return next(s for s in WORST_FIRST + tuple(states) if s in states)


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file: its outcome file goes to ``path``."""

    path: Path
    file: str  # the file's name as the local system dropped it
    sha256: str | None
    ids: list[str] = field(default_factory=list)
    reason: str | None = None  # one of the codes above when the file failed
    detail: str | None = None

    def document(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256,
                "state": FAILED if self.reason else None, "reason": self.reason,
                "detail": self.detail, "messages": [{"id": i} for i in self.ids]}


class OutcomeBook:
    """Writes and updates outcome files; ``state_dir/outcomes.db`` is the index.

    Work comes in batches -- the files of one look at the hot folder, the receipts that came
    while the last rewrite ran -- and each batch costs one index transaction and one look-up
    per message, not one of each per file."""

    def __init__(self, hub: HubHandle) -> None:
        self.hub = hub
        self._db: Path | None = None  # in the state folder, made on open()
        self._lock = asyncio.Lock()  # one rewrite at a time: never a stale one last
        self._ended: set[str] = set()  # message ids whose outcome files wait for a rewrite

    async def open(self) -> None:
        self._db = await asyncio.to_thread(lambda: self.hub.state_dir / "outcomes.db")
        await asyncio.to_thread(self._create)

    async def write(self, files: list[FileOutcome]) -> None:
        """Write the outcome file of each of ``files``: state ``failed`` with its reason when
        the file failed, else the state of its messages. The messages are indexed (so that
        their receipts update the file) before their state is read from the store, so a
        receipt that arrives meanwhile is never missed."""
        async with self._lock:
            pairs = [(i, str(f.path)) for f in files for i in f.ids]
            if pairs:
                await asyncio.to_thread(self._index, pairs)
            await self._rewrite({f.path: f.document() for f in files})

    async def update(self, message_id: str) -> None:
        """A message reached an end: rewrite every outcome file that names it. Receipts that
        arrive together are handled together: whoever gets the lock first rewrites the files
        of every message that ended so far, and the others find theirs done."""
        self._ended.add(message_id)
        async with self._lock:
            if message_id not in self._ended:
                return  # rewritten by an earlier caller
            ended, self._ended = self._ended, set()
            try:
                paths = await asyncio.to_thread(self._paths_of, sorted(ended))
                await self._refresh(paths)
            except BaseException:
                self._ended |= ended  # the next receipt (or restart) tries them again
                raise

    async def refresh_all(self) -> None:
        """Bring every outcome file still waiting for receipts up to date (after a restart)."""
        async with self._lock:
            paths = await asyncio.to_thread(self._query, "SELECT DISTINCT path FROM pending")
            await self._refresh(paths)

    async def _refresh(self, paths: list[str]) -> None:
        for start in range(0, len(paths), CHUNK):
            found, gone = await asyncio.to_thread(read_documents, paths[start:start + CHUNK])
            for path, problem in gone:
                # The local system took the outcome file away (or it is not ours any more).
                log.info("outcome file %s is gone or unreadable (%s); no longer updated",
                         path, problem)
            if gone:
                await asyncio.to_thread(self._forget, [path for path, _ in gone])
            await self._rewrite(found)

    async def _rewrite(self, documents: dict[Path, dict[str, Any]]) -> None:
        """Rebuild each document from its messages' current state and write it; a file whose
        messages have all ended leaves the index."""
        ids = list(dict.fromkeys(e["id"] for d in documents.values() for e in d["messages"]))
        found = await asyncio.gather(*(self.hub.message(i) for i in ids))
        records = {i: next((r for r in rs if r["direction"] == "out"), None)
                   for i, rs in zip(ids, found)}
        now = format_time(utc(time.time()))
        writes, closed = [], []
        for path, document in documents.items():
            messages = [_message(entry, records[entry["id"]]) for entry in document["messages"]]
            states = [m["state"] for m in messages]
            if document["state"] == FAILED:
                state = FAILED  # the file itself failed; its reason stays
            else:
                state = overall(states)
                document["reason"] = next((m["reason"] for m in messages
                                           if m["state"] == state and m["reason"]), None)
            document.update(state=state, messages=messages, updated=now)
            writes.append((path, (json.dumps(document, indent=2, ensure_ascii=False)
                                  + "\n").encode()))
            if not any(s in OPEN for s in states):
                closed.append(path)
        await asyncio.to_thread(self._write_files, writes, closed)

    def _write_files(self, writes: list[tuple[Path, bytes]], closed: list[Path]) -> None:
        for path, data in writes:
            write_atomic(path, data, replace=True)
        if closed:
            self._forget(closed)

    # -- the index (short transactions, in a worker thread) --------------------------------
    def _create(self) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS pending (message_id TEXT NOT NULL,"
                         " path TEXT NOT NULL, PRIMARY KEY (message_id, path))")
            conn.execute("CREATE INDEX IF NOT EXISTS pending_path ON pending (path)")

    def _index(self, pairs: list[tuple[str, str]]) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.executemany("INSERT OR IGNORE INTO pending (message_id, path) VALUES (?, ?)",
                             pairs)

    def _forget(self, paths: Iterable[Path | str]) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.executemany("DELETE FROM pending WHERE path = ?", [(str(p),) for p in paths])

    def _paths_of(self, ids: list[str]) -> list[str]:
        """The outcome files that name any of ``ids``."""
        paths: dict[str, None] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            paths.update(dict.fromkeys(self._query(
                "SELECT DISTINCT path FROM pending WHERE message_id IN"
                f" ({', '.join('?' * len(chunk))})", tuple(chunk))))
        return list(paths)

    def _query(self, sql: str, args: tuple = ()) -> list[str]:
        with closing(sqlite3.connect(self._db)) as conn:
            return [row[0] for row in conn.execute(sql, args)]


def _message(entry: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """A message's line in an outcome file, from its outgoing record in the store."""
    if record is None:
        return {**entry, "state": "unknown"}
    return {"id": record["id"], "to": record["peer"], "type": record["type"],
            "state": record["state"], "reason": record["reason"],
            "at": format_time(utc(record["updated"]))}


def read_documents(paths: list[str]) -> tuple[dict[Path, dict[str, Any]], list[tuple[str, str]]]:
    """The outcome files at ``paths`` that can be read, and ``(path, problem)`` of the rest."""
    found, gone = {}, []
    for path in paths:
        try:
            found[Path(path)] = json.loads(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            gone.append((path, str(exc)))
    return found, gone
