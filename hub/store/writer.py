"""One SQLite connection owned by one thread, with group commit.

Callers hand the thread an operation (a function taking the connection) and get a future. The
thread takes every operation waiting in its queue, runs them in one transaction and commits
once. Under load a burst of messages costs one fsync, not one each; when idle an operation is
committed as soon as it arrives. A future is resolved only after the COMMIT returned, so
nothing acknowledges a message that is not on disk.

One failing operation must not undo its neighbours. Operations rarely fail, so a batch first
runs plainly; should one raise, the transaction is rolled back and the batch runs again with
each operation inside a SAVEPOINT of its own, the failing one rolled back to it alone. An
operation may therefore run twice: it must do nothing but work on the connection (its effects
on the first run were rolled back).

``StoreConnection.scratch`` is a place for what an operation may remember for the rest of the
transaction (the audit log's last entry): it is emptied whenever a transaction begins or
anything is rolled back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

Operation = Callable[[sqlite3.Connection], Any]
_STOP = object()


class StoreClosed(RuntimeError):
    """The store was closed; the operation was not run."""


class StoreConnection(sqlite3.Connection):
    """The writer's connection, with ``scratch``: what operations remember within one
    transaction, forgotten when one begins or anything is rolled back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scratch: dict[str, Any] = {}


class Writer:
    """The thread that owns the connection. ``max_batch`` bounds one transaction."""

    def __init__(self, path: Path, init: Operation, max_batch: int = 512) -> None:
        self.path = path
        self.max_batch = max_batch
        self.commits = 0
        self.operations = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(init,), name=f"store:{path.name}", daemon=True)
        self._thread.start()
        self._ready.result()  # re-raises an error opening the database

    def submit(self, op: Operation) -> concurrent.futures.Future:
        """Queue ``op`` for callers outside an event loop; its future holds the result."""
        waiter = _ThreadWaiter()
        if self._closed:
            waiter.future.set_exception(self._closed_error())
        else:
            self._queue.put((op, waiter))
        return waiter.future

    async def run(self, op: Operation) -> Any:
        """Run ``op`` in the writer thread and await its committed result.

        The awaited future is the loop's own: the thread resolves all of one commit's futures
        of a loop with one ``call_soon_threadsafe``, one wake-up of the loop per commit
        instead of one per operation."""
        if self._closed:
            raise self._closed_error()
        waiter = _LoopWaiter(asyncio.get_running_loop())
        self._queue.put((op, waiter))
        return await waiter.future

    def run_sync(self, op: Operation) -> Any:
        """The same for callers outside an event loop (the command line)."""
        return self.submit(op).result()

    def _closed_error(self) -> StoreClosed:
        return StoreClosed(f"store {self.path} is closed")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=30)

    # -- the thread ------------------------------------------------------------------------
    def _run(self, init: Operation) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   factory=StoreConnection)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            init(conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the opener
            self._closed = True
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is _STOP for item in batch)
                self._commit([item for item in batch if item is not _STOP], conn)
                if stop:
                    break
        finally:
            self._drain()
            conn.close()

    def _commit(self, batch: list, conn: StoreConnection) -> None:
        # An operation whose caller gave up (cancelled) before it ran is not run at all.
        batch = [(op, waiter) for op, waiter in batch if waiter.start()]
        if not batch:
            return
        try:
            results = self._run_batch(batch, conn, isolated=False)
            if results is None:  # one failed: again, each operation on its own
                results = self._run_batch(batch, conn, isolated=True)
            conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed (disk full, I/O error)
            log.error("store commit failed: %s", exc)
            self._rollback(conn)
            _hand_back([(waiter, None, exc) for _op, waiter in batch])
            return
        self.commits += 1
        self.operations += len(batch)
        _hand_back(results)

    def _run_batch(self, batch: list, conn: StoreConnection, isolated: bool) -> list | None:
        """Run the batch in a new transaction, left open. Not ``isolated``: all or nothing,
        None (and rolled back) if an operation raised. ``isolated``: each operation in a
        savepoint, a failing one rolled back alone and its error returned with the results."""
        conn.execute("BEGIN IMMEDIATE")
        conn.scratch.clear()
        results = []
        for op, waiter in batch:
            if not isolated:
                try:
                    results.append((waiter, op(conn), None))
                except Exception:  # noqa: BLE001 - the batch runs again, isolated
                    self._rollback(conn)
                    return None
                continue
            conn.execute("SAVEPOINT op")
            try:
                results.append((waiter, op(conn), None))
                conn.execute("RELEASE op")
            except Exception as exc:  # noqa: BLE001 - returned to the caller
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                conn.scratch.clear()
                results.append((waiter, None, exc))
        return results

    @staticmethod
    def _rollback(conn: StoreConnection) -> None:
        conn.scratch.clear()
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                _hand_back([(item[1], None, self._closed_error())])


# -- handing results back ----------------------------------------------------------------------

class _ThreadWaiter:
    """A caller blocked in another thread (``run_sync``), on a concurrent future."""

    loop = None

    def __init__(self) -> None:
        self.future: concurrent.futures.Future = concurrent.futures.Future()

    def start(self) -> bool:
        return self.future.set_running_or_notify_cancel()


class _LoopWaiter:
    """A coroutine on an event loop, on that loop's own future."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()

    def start(self) -> bool:
        return not self.future.cancelled()  # a cancel after this finds the result unwanted


def _settle(future: Any, result: Any, exc: BaseException | None) -> None:
    if future.done():  # an awaiting coroutine was cancelled meanwhile
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)


def _settle_all(items: list) -> None:
    for future, result, exc in items:
        _settle(future, result, exc)


def _hand_back(results: list) -> None:
    """Resolve ``(waiter, result, exception)`` triples: a thread's at once, a loop's in one
    callback per loop."""
    per_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for waiter, result, exc in results:
        if waiter.loop is None:
            _settle(waiter.future, result, exc)
        else:
            per_loop.setdefault(waiter.loop, []).append((waiter.future, result, exc))
    for loop, items in per_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, items)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass
