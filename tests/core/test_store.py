"""The store: group commit, isolation of failing operations, the audit chain."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from hub.store import Outgoing, Store, audit
from hub.store.writer import StoreClosed
from tests.support.aio import run


def outgoing(i: int) -> Outgoing:
    return Outgoing(id=f"m{i:05d}", peer="baku", type="shipment.status", correlation_id=None,
                    created=1.0, expires=1e12, digest=f"sha256:{i}", jws=b"{}")


def test_concurrent_operations_share_one_commit(tmp_path) -> None:
    """Given 300 operations issued at once, they are committed in a few transactions, and each
    is durable: a second connection sees all of them."""
    store = Store(tmp_path / "hub.db")

    async def scenario() -> None:
        await asyncio.gather(*(store.add_outgoing([outgoing(i)], 2.0) for i in range(300)))

    run(scenario())
    assert store.operations == 300 and store.commits <= 10
    store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 300
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failing_operation_does_not_undo_its_neighbours(tmp_path) -> None:
    """Given a batch where one operation fails (a duplicate id), the others in the same
    transaction are committed and only the failing caller gets the error."""
    store = Store(tmp_path / "hub.db")

    async def scenario() -> list:
        await store.add_outgoing([outgoing(1)], 2.0)
        return await asyncio.gather(store.add_outgoing([outgoing(2)], 2.0),
                                    store.add_outgoing([outgoing(1)], 2.0),
                                    store.add_outgoing([outgoing(3)], 2.0),
                                    return_exceptions=True)

    results = run(scenario())
    assert results[0] == (["m00002"], ["baku"], True)
    assert results[2] == (["m00003"], ["baku"], True)
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert store.verify_audit_sync().entries == 3
    store.close()


def test_a_failed_operation_leaves_no_trace_in_the_audit_chain(tmp_path) -> None:
    """Given one transaction of three operations that each append to the audit log, the second
    failing after its append, the chain holds the first and third, linked to each other, and
    verifies; so does an entry written meanwhile by another connection (as the command line
    does beside a running hub), which the next transaction chains to."""
    store = Store(tmp_path / "hub.db")

    def entry(name: str, fail: bool = False):
        def op(conn):
            audit.append(conn, 1.0, name)
            if fail:
                raise RuntimeError(f"{name} fails")
            return name
        return op

    async def scenario() -> list:
        return await asyncio.gather(*(store._writer.run(op) for op in (
            entry("first"), entry("second", fail=True), entry("third"))),
            return_exceptions=True)

    results = run(scenario())
    assert results[0] == "first" and results[2] == "third"
    assert isinstance(results[1], RuntimeError)
    with sqlite3.connect(tmp_path / "hub.db") as other:
        other.execute("BEGIN IMMEDIATE")
        audit.append(other, 2.0, "from elsewhere")
        other.execute("COMMIT")
    run(store._writer.run(entry("fourth")))
    result = store.verify_audit_sync()
    store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        events = [row[0] for row in conn.execute("SELECT event FROM audit ORDER BY seq")]
    assert events == ["first", "third", "from elsewhere", "fourth"]
    assert result.ok and result.entries == 4


def test_operations_of_one_commit_are_answered_together_and_a_cancelled_one_is_not_run(
        tmp_path) -> None:
    """Given 200 operations awaited at once while the writer thread is held up, each caller
    gets its own result, the loop is woken once per commit (not per operation), and an
    operation whose caller was cancelled before the thread took it is never run."""
    store = Store(tmp_path / "hub.db")
    entered, gate = threading.Event(), threading.Event()
    ran: list[int] = []

    def hold(conn):
        entered.set()
        return gate.wait(10)

    def op(n: int):
        def run_it(conn):
            ran.append(n)
            return conn.execute("SELECT ?", (n,)).fetchone()[0]
        return run_it

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        blocker = asyncio.ensure_future(store._writer.run(hold))
        assert await asyncio.to_thread(entered.wait, 10)  # the thread is inside its transaction
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counted(*args, **kwargs):
            nonlocal wakeups
            wakeups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counted
        tasks = [asyncio.ensure_future(store._writer.run(op(n))) for n in range(200)]
        doomed = asyncio.ensure_future(store._writer.run(op(-1)))
        await asyncio.sleep(0)
        doomed.cancel()
        gate.set()
        results = await asyncio.gather(*tasks)
        await blocker
        loop.call_soon_threadsafe = original
        return results, wakeups

    results, wakeups = run(scenario())
    store.close()
    assert results == list(range(200))
    assert -1 not in ran
    assert wakeups <= 3  # the blocker's commit and the one or two of the 200


def _steps_of_the_hot_queries(tmp_path, waiting: int) -> int:
    """SQLite virtual-machine steps of what a link and the hand-over ask again and again,
    with ``waiting`` messages queued for baku and as many received and not handed over."""
    store = Store(tmp_path / f"hub-{waiting}.db")
    ids = [f"m{i:07d}" for i in range(waiting)]

    def fill(conn):
        conn.executemany(
            "INSERT INTO messages (direction, id, peer, type, created, expires, digest, jws,"
            " state, next_attempt, updated) VALUES (?, ?, 'baku', 'shipment.status', ?, 1e12,"
            " 'sha256:x', x'7b7d', ?, ?, ?)",
            [(direction, message_id, n, state, n, n) for n, message_id in enumerate(ids)
             for direction, state in (("out", "queued"), ("in", "received"))])

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    try:
        run(store._writer.run(fill))
        run(store._writer.run(lambda conn: conn.set_progress_handler(count, 10)))
        now = float(waiting + 1)
        due, _next = run(store.due_outgoing("baku", now, 200, writing=ids[:150]))
        assert [row["id"] for row in due] == ids[150:200]
        # the window full of writes: none due, and when one next falls due (none here)
        assert run(store.due_outgoing("baku", now, 150, writing=ids[:150])) == ([], None)
        due, _next = run(store.pending_handover(now))
        assert len(due) == 100
        assert run(store.pending_handover(-1.0)) == ([], 0)  # none due yet: the next's time
        run(store.known_incoming(ids[-50:]))
        assert run(store.expire_due(now)) == ([], 1e12)
        run(store._writer.run(lambda conn: conn.set_progress_handler(None, 10)))
    finally:
        store.close()
    return steps[0]


def test_what_the_link_and_the_hand_over_ask_costs_the_same_however_much_waits(tmp_path):
    """Given 1,000 and then 20,000 messages queued for a peer and as many waiting for their
    hand-over, the link's and the hand-over's queries run about as many SQLite steps: none
    reads every waiting message. (One that did -- sorting the queue by id, counting the
    messages being written through the state index -- made a 100,000-message backlog drain
    at 0.38 of the steady rate.)"""
    few, many = (_steps_of_the_hot_queries(tmp_path, n) for n in (1_000, 20_000))
    assert many < 2 * few, (few, many)


def test_idempotency_key_returns_the_first_submission(tmp_path) -> None:
    """Given the same idempotency key twice, the second add queues nothing and returns the
    first submission's ids."""
    store = Store(tmp_path / "hub.db")

    async def scenario() -> tuple:
        first = await store.add_outgoing([outgoing(1)], 2.0, idempotency_key="file:abc")
        again = await store.add_outgoing([outgoing(2)], 3.0, idempotency_key="file:abc")
        return first, again, await store.count_outgoing("queued")

    first, again, queued = run(scenario())
    store.close()
    assert first == (["m00001"], ["baku"], True)
    assert again == (["m00001"], ["baku"], False)
    assert queued == {"baku": 1}


def test_closed_store_refuses_work_clearly(tmp_path) -> None:
    store = Store(tmp_path / "hub.db")
    store.close()
    with pytest.raises(StoreClosed):
        store.verify_audit_sync()


def test_unopenable_store_is_a_clear_error(tmp_path) -> None:
    """Given a data file that is not a database, opening the store fails at once."""
    bad = tmp_path / "hub.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        Store(bad)


def test_audit_chain_detects_a_changed_entry(tmp_path) -> None:
    """Given an audit log of 5 entries, changing one entry's detail behind the store's back
    (dropping the append-only trigger first) is found, and the entry is named."""
    store = Store(tmp_path / "hub.db")
    run(store.add_outgoing([outgoing(i) for i in range(5)], 2.0))
    assert store.verify_audit_sync().ok
    store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET detail = '{}' WHERE seq = 3")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE seq = 3")
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET detail = '{\"type\":\"customs.decision\"}' WHERE seq = 3")
    store = Store(tmp_path / "hub.db")
    result = store.verify_audit_sync()
    store.close()
    assert not result.ok and result.first_bad == 3 and "hash" in result.problem


def test_audit_chain_detects_a_removed_entry(tmp_path) -> None:
    store = Store(tmp_path / "hub.db")
    run(store.add_outgoing([outgoing(i) for i in range(5)], 2.0))
    store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq = 2")
    store = Store(tmp_path / "hub.db")
    result = store.verify_audit_sync()
    store.close()
    assert not result.ok and result.first_bad == 3 and "missing" in result.problem


def test_looking_a_message_up_by_id_uses_the_primary_key(tmp_path) -> None:
    """Given the store's look-up of one message by id (the status API, trace, outcome files),
    SQLite finds it through the primary key instead of reading every message."""
    from hub.store.store import BY_ID

    store = Store(tmp_path / "hub.db")
    store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT state FROM messages WHERE {BY_ID}",
                            ("m00001",)).fetchall()
    assert "USING INDEX sqlite_autoindex_messages_1" in plan[0][3], plan


def test_the_links_and_the_hand_over_queries_do_not_read_every_message(tmp_path) -> None:
    """Given a store holding many settled messages, what a link and the hand-over ask many
    times a second (and the outbox gauges at every scrape) is found through an index on the
    state, never by walking every message of a direction: with 100,000 messages kept, each
    walk cost tens of milliseconds and slowed the hub as its store grew."""
    store = Store(tmp_path / "hub.db")
    traced: list[str] = []
    try:
        run(store._writer.run(lambda conn: conn.set_trace_callback(traced.append)))
        now = 1_000.0
        run(store.due_outgoing("baku", now, 200, writing=["m1", "m2"]))
        run(store.pending_handover(now))
        run(store.expire_due(now))
        run(store.outbox_summary())
        run(store.count_outgoing("queued"))
        run(store._writer.run(lambda conn: conn.set_trace_callback(None)))
    finally:
        store.close()
    queries = [sql for sql in traced if sql.lstrip().upper().startswith("SELECT")]
    assert len(queries) >= 9, traced
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        for sql in queries:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            walks = [step for step in plan if step.startswith(("SCAN messages", "SEARCH messages"))
                     and step.endswith("(direction=?)")]
            assert not walks, f"{sql}\n{plan}"
            # Nor by sorting all the rows they match: a 100,000-message backlog took 80 ms a
            # query to sort by id (a partial sort of ties, RIGHT PART OF ORDER BY, is fine).
            assert "USE TEMP B-TREE FOR ORDER BY" not in plan, f"{sql}\n{plan}"
