"""The sql adapter: poll an outbox table, write an inbox table.

Input: one transaction per poll takes up to ``batch`` untaken rows (locked), submits each
with the idempotency key ``<adapter>:<row id>`` and marks it taken with its message ids (or
with the error that kept it from being sent), then commits. A crash before the commit leaves
the rows untaken; the next poll submits them again and the hub answers with the first
submission's ids instead of sending twice.

Output: each inbound message is inserted with its id as the key, ``ON CONFLICT DO NOTHING``,
so a repeated delivery adds no row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from hub import jsontext
from hub.adapter import Adapter, HubHandle
from hub.envelope import Envelope, format_time
from hub.errors import SubmitError

from ..common.submission import InvalidSubmission, Submission, parse_submission
from .config import SQLITE, SqlConfig
from .database import Database, Session, open_database

log = logging.getLogger(__name__)

ROW_FIELDS = ("type", "body", "to", "correlation_id", "ttl")


def submission_of(row: dict[str, Any]) -> Submission:
    """The submission a row stands for; ``recipient`` is its ``to``, ``body`` JSON text or
    a JSON column."""
    data = {("to" if k == "recipient" else k): v for k, v in row.items()
            if k != "id" and v is not None}
    body = data.get("body")
    if isinstance(body, (bytes, memoryview)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data["body"] = jsontext.loads(body)
        except ValueError as exc:
            raise InvalidSubmission(f"body is not valid JSON: {exc}") from None
    if isinstance(data.get("to"), str) and "," in data["to"]:
        data["to"] = [t.strip() for t in data["to"].split(",")]
    return parse_submission(data, allowed=ROW_FIELDS)


class SqlAdapter(Adapter):
    config_model = SqlConfig
    config: SqlConfig

    def __init__(self, name: str, config: SqlConfig, hub: HubHandle) -> None:
        super().__init__(name, config, hub)
        # Two connections: the poll's transaction must not hold up (or mix with) deliveries.
        self.outbox: Database = open_database(config)
        self.inbox: Database = open_database(config)
        dialect = self.outbox.dialect
        self.poll_query = config.poll_query or dialect.poll.format(table=config.outbox_table)
        self.mark_query = config.mark_query or dialect.mark.format(table=config.outbox_table)
        self.insert_query = config.insert_query or \
            dialect.insert.format(table=config.inbox_table)
        self._inbox_ready = False

    async def run(self) -> None:
        if not self.config.polls:
            return
        if self.config.create_tables and self.config.outbox_table:
            async with self.outbox.transaction() as tx:
                await tx.execute(self.outbox.dialect.create_outbox.format(
                    table=self.config.outbox_table), {})
        log.info("sql %s: polling %s", self.name, self.outbox.describe())
        while True:
            taken = await self.poll()
            if taken < self.config.batch:
                await asyncio.sleep(self.config.poll_interval)

    async def poll(self) -> int:
        """One transaction: take, submit and mark up to ``batch`` rows; how many it took."""
        async with self.outbox.transaction() as tx:
            rows = await tx.fetch(self.poll_query, {"batch": self.config.batch})
            for row in rows:
                await self._take(tx, row)
        return len(rows)

    async def _take(self, tx: Session, row: dict[str, Any]) -> None:
        row_id = row.get("id")
        ids: list[str] = []
        problem = None
        try:
            if row_id is None:
                raise InvalidSubmission("the poll query returned a row without an id column")
            s = submission_of(row)
            done = await self.hub.submit(s.type, s.body, to=s.to,
                                         correlation_id=s.correlation_id, ttl=s.ttl,
                                         idempotency_key=f"{self.name}:{row_id}")
            ids = done.ids
        except (InvalidSubmission, SubmitError) as exc:
            problem = str(exc)
            self.hub.count_refused()
            log.warning("sql %s: row %s not sent: %s", self.name, row_id, problem,
                        extra={"adapter": self.name})
        await tx.execute(self.mark_query, {"id": row_id, "message_id": " ".join(ids) or None,
                                           "error": problem})

    async def deliver(self, envelope: Envelope) -> None:
        if not self._inbox_ready and self.config.create_tables and not self.config.insert_query:
            async with self.inbox.transaction() as tx:
                await tx.execute(self.inbox.dialect.create_inbox.format(
                    table=self.config.inbox_table), {})
        self._inbox_ready = True
        params = {"message_id": envelope.id, "type": envelope.type, "sender": envelope.sender,
                  "correlation_id": envelope.correlation_id,
                  "created": format_time(envelope.created),
                  "body": json.dumps(envelope.body, ensure_ascii=False)}
        async with self.inbox.transaction() as tx:
            if not await tx.execute(self.insert_query, params):
                log.info("sql %s: %s was already in %s; not inserted again", self.name,
                         envelope.id, self.inbox.describe(),
                         extra={"adapter": self.name, "message_id": envelope.id})

    async def check(self) -> list[str]:
        if self.config.is_sqlite:
            folder = Path(self.config.dsn[len(SQLITE):]).parent
            if not await asyncio.to_thread(folder.is_dir):
                return [f"dsn: the folder {folder} of the SQLite database does not exist"]
        return []

    async def close(self) -> None:
        await self.outbox.close()
        await self.inbox.close()
