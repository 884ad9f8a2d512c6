"""``porthub run`` in a child process, for the operations tests: start, find its HTTP port in
its JSON log, signal it, read its log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class HubProcess:
    def __init__(self, config: Path, log_dir: Path, env: dict | None = None) -> None:
        self.config = config
        self.stdout = log_dir / f"{config.parent.name}.stdout"
        self.stderr = log_dir / f"{config.parent.name}.stderr"
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "-c", str(config)], stdout=out, stderr=err,
                env={**os.environ, **(env or {})})
        self.port: int | None = None

    def log(self) -> list[dict]:
        lines = []
        for raw in self.stdout.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
        return lines

    def wait_log(self, predicate, timeout: float = 30.0, what: str = "a log line") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log():
                if predicate(line):
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"hub exited {self.proc.returncode} before {what}: "
                                     f"{self.stderr.read_text()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s: {self.stdout.read_text()[-2000:]}")

    def wait_http(self, timeout: float = 30.0) -> int:
        line = self.wait_log(lambda l: l["msg"].startswith("HTTP listener on "), timeout,
                             "HTTP listener")
        self.port = int(line["msg"].rsplit(":", 1)[1])
        return self.port

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> tuple[int, dict]:
        status, body = self.get(path)
        return status, json.loads(body)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
