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
from pathlib import Path
from typing import Any

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


class OutcomeBook:
    """Writes and updates outcome files; ``state_dir/outcomes.db`` is the index."""

    def __init__(self, hub: HubHandle) -> None:
        self.hub = hub
        self._db: Path | None = None  # in the state folder, made on open()
        self._lock = asyncio.Lock()  # one rewrite at a time: never a stale one last

    async def open(self) -> None:
        self._db = await asyncio.to_thread(lambda: self.hub.state_dir / "outcomes.db")
        await asyncio.to_thread(self._create)

    async def write(self, path: Path, file_name: str, sha256: str | None,
                    ids: list[str], reason: str | None = None,
                    detail: str | None = None) -> None:
        """Write the outcome file of ``file_name`` at ``path``: state ``failed`` with
        ``reason`` (one of the codes above) and ``detail`` when the file failed, else the state
        of its messages ``ids``, which are indexed so that their receipts update it."""
        document = {"file": file_name, "sha256": sha256,
                    "state": FAILED if reason else None, "reason": reason,
                    "detail": detail, "messages": [{"id": i} for i in ids]}
        async with self._lock:
            if ids:
                await asyncio.to_thread(self._index, ids, path)
            await self._rewrite(path, document)

    async def update(self, message_id: str) -> None:
        """A message reached an end: rewrite every outcome file that names it."""
        paths = await asyncio.to_thread(self._query, "SELECT path FROM pending"
                                        " WHERE message_id = ?", (message_id,))
        for path in paths:
            await self.refresh(Path(path))

    async def refresh_all(self) -> None:
        """Bring every outcome file still waiting for receipts up to date (after a restart)."""
        for path in await asyncio.to_thread(self._query, "SELECT DISTINCT path FROM pending"):
            await self.refresh(Path(path))

    async def refresh(self, path: Path) -> None:
        async with self._lock:
            try:
                document = json.loads(await asyncio.to_thread(path.read_bytes))
            except (OSError, ValueError) as exc:
                # The local system took the outcome file away (or it is not ours any more).
                log.info("outcome file %s is gone or unreadable (%s); no longer updated",
                         path, exc)
                await asyncio.to_thread(self._forget, path)
                return
            await self._rewrite(path, document)

    async def _rewrite(self, path: Path, document: dict[str, Any]) -> None:
        messages = []
        for entry in document["messages"]:
            records = [r for r in await self.hub.message(entry["id"]) if r["direction"] == "out"]
            if records:
                r = records[0]
                messages.append({"id": r["id"], "to": r["peer"], "type": r["type"],
                                 "state": r["state"], "reason": r["reason"],
                                 "at": format_time(utc(r["updated"]))})
            else:
                messages.append({**entry, "state": "unknown"})
        states = [m["state"] for m in messages]
        if document["state"] == FAILED:
            state = FAILED  # the file itself failed; its reason stays
        else:
            state = overall(states)
            document["reason"] = next((m["reason"] for m in messages
                                       if m["state"] == state and m["reason"]), None)
        document.update(state=state, messages=messages, updated=format_time(utc(time.time())))
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
        await asyncio.to_thread(write_atomic, path, data, replace=True)
        if not any(s in OPEN for s in states):
            await asyncio.to_thread(self._forget, path)

    # -- the index (short transactions, in a worker thread) --------------------------------
    def _create(self) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS pending (message_id TEXT NOT NULL,"
                         " path TEXT NOT NULL, PRIMARY KEY (message_id, path))")

    def _index(self, ids: list[str], path: Path) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.executemany("INSERT OR IGNORE INTO pending (message_id, path) VALUES (?, ?)",
                             [(i, str(path)) for i in ids])

    def _forget(self, path: Path) -> None:
        with closing(sqlite3.connect(self._db)) as conn, conn:
            conn.execute("DELETE FROM pending WHERE path = ?", (str(path),))

    def _query(self, sql: str, args: tuple = ()) -> list[str]:
        with closing(sqlite3.connect(self._db)) as conn:
            return [row[0] for row in conn.execute(sql, args)]
