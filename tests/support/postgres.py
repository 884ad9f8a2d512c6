"""The real PostgreSQL for tests: where it is, and a throw-away schema per test.

The server is found at ``PORTHUB_TEST_POSTGRES`` (a libpq URI, default
``postgresql://postgres@127.0.0.1:5432/test``: trust authentication). A server that cannot be
reached is a test *failure*, never a skip: a green run must mean PostgreSQL was tested.
"""

from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator
from urllib.parse import quote

import psycopg
import pytest

DSN = os.environ.get("PORTHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def connect(dsn: str = DSN, **kwargs) -> psycopg.Connection:
    """A connection for the test's own checks; fails the test if there is no server."""
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {DSN} ({str(exc).strip()}). The sql "
                    "adapter tests need the real server: start it, or point "
                    "PORTHUB_TEST_POSTGRES at it.", pytrace=False)


def with_schema(schema: str, dsn: str = DSN) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (and an application name to find its
    connections by)."""
    options = quote(f"-csearch_path={schema}")
    joiner = "&" if "?" in dsn else "?"
    return f"{dsn}{joiner}options={options}&application_name={schema}"


@pytest.fixture
def pg_schema() -> Iterator[Callable[[str], str]]:
    """``make(name) -> dsn``: a new schema ``porthub_test_<name>_<random>``, dropped (with
    everything in it) when the test ends."""
    made: list[str] = []

    def make(name: str) -> str:
        schema = f"porthub_test_{name}_{uuid.uuid4().hex[:8]}"
        with connect(autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        return with_schema(schema)

    yield make
    with connect(autocommit=True) as conn:
        for schema in made:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE application_name = %s AND pid <> pg_backend_pid()", (schema,))
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
