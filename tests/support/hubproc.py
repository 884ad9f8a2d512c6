"""A hub as a separate process (``python -m hub run -c FILE``), for tests that kill it.

SIGKILL cannot be tried on a hub that shares the test's process, so these tests run it on its
own: start it, wait until it is ready, kill or stop it, start it again, and read its store
(read-only, while it runs or after it died) to see what it holds. Each start writes the
process's stdout and stderr to files of their own beside the store, kept for the post-mortem.

Nothing here waits without a bound; every wait polls and gives up with the hub's last log lines.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import IO, Callable

import pika
import pika.exceptions as pe

from hub.config import load_config
from hub.failpoints import ENV as FAILPOINTS_ENV
from hub.transports import amqp

POLL = 0.05  # seconds between looks
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0  # above hub.daemon.STOP_TIMEOUT: a clean stop may use all of that
LOG_TAIL = 2000  # characters of stderr quoted when a process misbehaves


def store_states(db: Path, direction: str) -> Counter:
    """How many messages of ``direction`` (``out`` or ``in``) the store at ``db`` holds, by
    state; empty if there is no store yet. Read-only: safe while the hub runs or after it died.
    """
    if not db.exists():
        return Counter()
    with _read_only(db) as conn:
        return Counter(dict(conn.execute(
            "SELECT state, COUNT(*) FROM messages WHERE direction = ? GROUP BY state",
            (direction,)).fetchall()))


def store_query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of one read-only query on the store at ``db``."""
    with _read_only(db) as conn:
        return conn.execute(sql, params).fetchall()


class _read_only:
    """A read-only connection, closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        self.conn.close()


class HubProcess:
    """One hub's process, started from the configuration file at ``config_path``.

    For an AMQP inbox, *ready* means the process is running, its store exists and its inbox
    queue has a consumer; for other inboxes only the first two.
    """

    def __init__(self, config_path: Path) -> None:
        self.config_path = Path(config_path)
        config = load_config(self.config_path)
        self.hub_id = config.hub.id
        self.db = config.hub.data_dir / "hub.db"
        self.inbox = config.inbox
        self.log_dir = config.hub.data_dir.parent / "logs"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.port: int | None = None
        self._files: list[IO] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, failpoints: str | None = None, env: dict[str, str] | None = None) -> None:
        """Start the hub; ``failpoints`` arms hub/failpoints.py (e.g. ``after_inbox_commit=50``)
        for this run only; ``env`` adds environment variables (NOTIFY_SOCKET, ...)."""
        assert not self.running, f"{self.hub_id} is already running"
        self._close_files()
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stem = self.log_dir / f"run{self.starts}"
        out, err = open(f"{stem}.out", "wb"), open(f"{stem}.err", "wb")
        self._files = [out, err]
        extra_env = env
        env = {k: v for k, v in os.environ.items() if k != FAILPOINTS_ENV}
        if failpoints:
            env[FAILPOINTS_ENV] = failpoints
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "-c", str(self.config_path)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env={**env, **(extra_env or {})})
        self.port = None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the hub is ready; fail with its log if it dies or takes too long."""
        deadline = time.monotonic() + timeout
        while not self.db.exists():
            self._check_alive_until(deadline, "create its store")
        self._wait_consumers(lambda n: n >= 1, deadline, "consume its inbox", while_running=True)

    def kill(self) -> None:
        """SIGKILL the hub and wait until it is gone and the broker has let go of its inbox."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
        self.wait_exit()
        self._wait_consumers(lambda n: n == 0, time.monotonic() + STOP_TIMEOUT,
                             "let go of the killed hub's inbox")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the hub; return its exit status, or kill it and fail after ``timeout``."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(timeout)
        except AssertionError:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
            raise

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait until the process has ended; its exit status (negative: killed by a signal)."""
        assert self.proc is not None, f"{self.hub_id} was never started"
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hub {self.hub_id} did not exit within {timeout} s\n"
                                 f"{self.log_tail()}") from None
        self._close_files()
        return status

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "HubProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        self._close_files()

    def signal(self, sig: int) -> None:
        assert self.running, f"hub {self.hub_id} is not running"
        self.proc.send_signal(sig)

    # -- its log and its HTTP listener ---------------------------------------------------------
    def log(self) -> list[dict]:
        """The current run's JSON log lines (stdout), parsed."""
        path = self.log_dir / f"run{self.starts}.out"
        lines = []
        for raw in (path.read_text(errors="replace").splitlines() if path.exists() else []):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
        return lines

    def wait_log(self, predicate: Callable[[dict], bool], timeout: float = START_TIMEOUT,
                 what: str = "a log line") -> dict:
        """The first log line of this run for which ``predicate`` holds, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log():
                if predicate(line):
                    return line
            self._check_alive_until(deadline, f"log {what}")

    def wait_http(self, timeout: float = START_TIMEOUT) -> int:
        """The port its HTTP listener took (configs made by hub.sandbox ask for any port)."""
        line = self.wait_log(lambda l: l.get("msg", "").startswith("HTTP listener on "),
                             timeout, "its HTTP listener")
        self.port = int(line["msg"].rsplit(":", 1)[1])
        return self.port

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` from its HTTP listener: (status, body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> tuple[int, dict]:
        status, body = self.get(path)
        return status, json.loads(body)

    # -- what it did ---------------------------------------------------------------------------
    def states(self, direction: str) -> Counter:
        """Its messages of ``direction`` by state (see ``store_states``)."""
        return store_states(self.db, direction)

    def log_tail(self) -> str:
        """The end of the current (or last) run's stderr, for failure messages."""
        path = self.log_dir / f"run{self.starts}.err"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {path} ---\n{text[-LOG_TAIL:]}"

    # -- internals -----------------------------------------------------------------------------
    def _check_alive_until(self, deadline: float, what: str) -> None:
        if not self.running:
            status = self.proc.returncode if self.proc else None
            raise AssertionError(f"hub {self.hub_id} exited ({status}) before it could {what}\n"
                                 f"{self.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"hub {self.hub_id} did not {what} in time\n{self.log_tail()}")
        time.sleep(POLL)

    def _wait_consumers(self, done: Callable[[int], bool], deadline: float, what: str, *,
                        while_running: bool = False) -> None:
        """Poll the consumer count of the inbox queue (a passive declare: no management plugin
        needed) until ``done(count)``; with ``while_running``, fail as soon as the hub exits."""
        if not isinstance(self.inbox, amqp.AmqpSettings):
            return
        queue = amqp.AmqpInbox(self.inbox, self.hub_id).queue
        params = amqp.connection_parameters(self.inbox, f"porthub test probe {self.hub_id}")
        with pika.BlockingConnection(params) as connection:
            channel = connection.channel()
            while True:
                try:
                    count = channel.queue_declare(queue, passive=True).method.consumer_count
                except pe.ChannelClosedByBroker:  # 404: the hub has not declared it yet
                    count, channel = 0, connection.channel()
                if done(count):
                    return
                if while_running:
                    self._check_alive_until(deadline, what)
                elif time.monotonic() > deadline:
                    raise AssertionError(f"the broker did not {what} within the bound")
                else:
                    time.sleep(POLL)

    def _close_files(self) -> None:
        for f in self._files:
            f.close()
        self._files = []
