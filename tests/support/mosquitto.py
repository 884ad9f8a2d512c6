"""Private Mosquitto brokers for tests: one ``mosquitto`` process per test, on a free loopback
port, with its own configuration, log and persistence directory.

Tests that need a broker use the ``mosquitto_factory`` (or ``mosquitto``) fixture. When the
``mosquitto`` binary is missing those tests FAIL: a green run must mean the MQTT transport was
exercised against a real broker.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pytest

SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def mosquitto_binary() -> str | None:
    """The path of the ``mosquitto`` broker binary, or None (it usually lives in an sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SEARCH_PATH])
    return shutil.which("mosquitto", path=path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mosquitto:
    """One private broker. ``start()`` waits until it accepts connections; ``kill()`` is a
    SIGKILL (no chance to save its database); ``restart()`` comes back on the same port with the
    same persistence directory."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, persistence: bool = True, extra: Iterable[str] = (),
                 binary: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.persistence = persistence
        self.extra = list(extra)
        self.binary = binary or mosquitto_binary() or "mosquitto"
        self.port = free_port()
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.data_dir = self.workdir / "data"
        self.process: subprocess.Popen | None = None

    def config(self) -> str:
        """The configuration file: one loopback listener, anonymous access, Mosquitto's default
        limits unless ``extra`` lines change them."""
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Started as root, mosquitto would switch to the 'mosquitto' user and could no longer
            # write into the test's directory; as anyone else this line changes nothing.
            f"user {getpass.getuser()}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.data_dir}/",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            *self.extra,
        ]
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> "Mosquitto":
        """Start the broker and wait (bounded) until it accepts TCP connections."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config(), encoding="utf-8")
        with open(self.workdir / "mosquitto.stderr", "ab") as stderr:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config_path)],
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto on port {self.port} exited with "
                                   f"{self.process.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"mosquitto on port {self.port} did not accept "
                                       f"connections within {timeout}s:\n{self.log_tail()}")
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the broker dies without saving anything."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its database and exits); SIGKILL if it does not exit."""
        if self.running:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> "Mosquitto":
        """Stop (if still running) and start again on the same port and persistence directory."""
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        stderr = self.workdir / "mosquitto.stderr"
        text = self.log() + (stderr.read_text(errors="replace") if stderr.exists() else "")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def require_mosquitto() -> str:
    """The broker binary; fails (never skips) the calling test when it is missing."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("the mosquitto broker binary is not installed (apt-get install mosquitto); "
                    "MQTT tests run against a real broker and do not skip", pytrace=False)
    return binary


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """``make(persistence=True, extra=())`` starts a private broker; all are stopped after the
    test."""
    binary = require_mosquitto()
    brokers: list[Mosquitto] = []

    def make(*, persistence: bool = True, extra: Iterable[str] = ()) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{len(brokers)}", persistence=persistence,
                           extra=extra, binary=binary)
        broker.workdir.mkdir(parents=True)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """A private broker with persistence and Mosquitto's default limits."""
    return mosquitto_factory()
