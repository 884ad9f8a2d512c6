"""A private RabbitMQ node for tests that must configure the broker: a TLS listener with client
certificates, EXTERNAL login, or (for fault tests) a broker that may be killed and paused.

The shared broker of tests/support/rabbit.py is used by other test runs at the same time and is
never reconfigured; this node is ours alone. It has its own node name
(``porthub-<run>@localhost``), its own Erlang cookie (its ``HOME`` is the node's folder, so no
CLI command can reach another node by mistake), its own AMQP, TLS and distribution ports on
127.0.0.1, and its own rabbitmq.conf, enabled-plugins file, data and log folders in a temp
folder. Nothing of /etc/rabbitmq is read.

Starting a node takes several seconds, so the ``rabbit_node`` fixture (registered in
tests/conftest.py) starts one per test session, and only when a test asks for it. A missing
RabbitMQ is a test *failure*, not a skip.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pika
import pytest

from tests.security_fixtures import PKIWorld
from tests.support.brokertls import broker_certificate
from tests.support.mosquitto import free_port

RABBITMQ_BIN = Path(os.environ.get("PORTHUB_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
PLUGINS = ("rabbitmq_auth_mechanism_ssl",)  # EXTERNAL: login by the client certificate
USER, PASSWORD = "guest", "guest"  # the default user; RabbitMQ admits it from loopback only
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
CTL_TIMEOUT = 30.0


@dataclass(frozen=True)
class NodeTls:
    """The TLS listener's files: the CA its clients' certificates must come from, the
    broker's own certificate and key, and the CA that signed them (what clients trust)."""

    client_ca: Path
    cert: Path
    key: Path
    broker_ca: Path


class RabbitNode:
    """One private RabbitMQ node. ``start()`` waits (bounded) until the node has booted;
    ``stop()`` is a clean shutdown; ``kill()`` is SIGKILL; ``pause()``/``resume()`` freeze and
    thaw it (SIGSTOP/SIGCONT: its sockets stay open but nothing answers). ``start()`` after
    ``stop()`` or ``kill()`` boots the same node on the same ports and data."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, tls: NodeTls | None = None,
                 name: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.tls = tls
        self.name = name or f"porthub-{uuid.uuid4().hex[:8]}@localhost"
        ports: set[int] = set()
        while len(ports) < 3:  # bounded in practice: the kernel hands out distinct ports
            ports.add(free_port())
        self.amqp_port, self.tls_port, self.dist_port = sorted(ports)
        self.process: subprocess.Popen | None = None
        self.started_in: list[float] = []  # seconds each start took

    # -- files -----------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.workdir / "log" / f"{self.name}.log"

    def config(self) -> str:
        """rabbitmq.conf: loopback listeners; with ``tls``, the TLS listener of
        docs/rabbitmq.md (client certificate required) and EXTERNAL login by its CN."""
        lines = [f"listeners.tcp.default = {self.host}:{self.amqp_port}",
                 "log.file.level = info", "log.console = false",
                 # The test machine's disk is shared: do not let a low free-space reading block
                 # publishers in the middle of a test.
                 "disk_free_limit.absolute = 1MB"]
        if self.tls is not None:
            lines += [
                f"listeners.ssl.default = {self.host}:{self.tls_port}",
                f"ssl_options.cacertfile = {self.tls.client_ca}",
                f"ssl_options.certfile = {self.tls.cert}",
                f"ssl_options.keyfile = {self.tls.key}",
                "ssl_options.verify = verify_peer",
                "ssl_options.fail_if_no_peer_cert = true",
                "ssl_options.versions.1 = tlsv1.3",
                "ssl_options.versions.2 = tlsv1.2",
                "auth_mechanisms.1 = PLAIN",
                "auth_mechanisms.2 = AMQPLAIN",
                "auth_mechanisms.3 = EXTERNAL",
                "ssl_cert_login_from = common_name",
            ]
        return "\n".join(lines) + "\n"

    def environment(self) -> dict[str, str]:
        """What the server and the CLI are run with: everything points into ``workdir``."""
        w = self.workdir
        return {
            **os.environ,
            "HOME": str(w),  # the Erlang cookie: $HOME/.erlang.cookie, made at the first boot
            "RABBITMQ_CONF_ENV_FILE": str(w / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(w / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_PID_FILE": str(w / "rabbitmq.pid"),
            # Erlang distribution on loopback only, for the node and its CLI alike.
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        (self.workdir / "rabbitmq.conf").write_text(self.config(), encoding="utf-8")
        (self.workdir / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n",
                                                      encoding="utf-8")

    # -- life cycle ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> "RabbitNode":
        """Boot the node and wait until it accepts AMQP connections and has fully started."""
        if self.running:
            return self
        self._write_files()
        started = time.monotonic()
        with open(self.workdir / "server.out", "ab") as out:
            # A session of its own, so that kill() and pause() reach the start script, the
            # Erlang VM and its helper processes together.
            self.process = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")],
                                            env=self.environment(), cwd=self.workdir,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                            start_new_session=True)
        deadline = started + timeout
        while not self._accepts_connections():
            if self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.name} exited with "
                                   f"{self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"RabbitMQ node {self.name} did not accept connections on "
                                   f"{self.host}:{self.amqp_port} within {timeout:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)
        remaining = max(1, int(deadline - time.monotonic()))
        self.rabbitmqctl("await_startup", "--timeout", str(remaining))
        self.started_in.append(time.monotonic() - started)
        return self

    def _accepts_connections(self) -> bool:
        try:
            socket.create_connection((self.host, self.amqp_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the start script has the node stop itself), SIGKILL if
        it has not ended within STOP_TIMEOUT."""
        if not self.running:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal_group(signal.SIGKILL)  # anything of the node's still left over

    def kill(self) -> None:
        """SIGKILL the node's processes (the Erlang VM among them): no clean shutdown."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"RabbitMQ node {self.name} survived SIGKILL") from None
        # The start script is gone at once, the Erlang VM a moment later: until its listener
        # is closed, a start() would take the dying node's port for the new node's.
        while self._accepts_connections():
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} still listens on "
                                   f"{self.host}:{self.amqp_port} after SIGKILL")
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the node keeps its sockets but stops answering."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)  # the group of start_new_session
        except ProcessLookupError:
            pass

    @property
    def beam_pid(self) -> int | None:
        """The Erlang VM's process id, from the node's pid file."""
        try:
            return int((self.workdir / "rabbitmq.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # -- using it --------------------------------------------------------------------------
    def rabbitmqctl(self, *args: str) -> str:
        """Run one rabbitmqctl command against this node only; raise with its output if it
        fails."""
        command = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=CTL_TIMEOUT,
                                  env=self.environment(), cwd=self.workdir,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{shlex.join(command)} did not finish within "
                               f"{CTL_TIMEOUT:g} s") from None
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def plain_parameters(self, vhost: str = "/") -> pika.ConnectionParameters:
        """pika's parameters for the plain loopback listener as ``guest``."""
        return pika.ConnectionParameters(self.host, self.amqp_port, vhost,
                                         pika.PlainCredentials(USER, PASSWORD),
                                         connection_attempts=1, socket_timeout=5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """The node's log once it holds ``text`` (RabbitMQ writes it a moment after the
        event); AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log of {self.name} within "
                                     f"{timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return log

    def log_tail(self, lines: int = 30) -> str:
        out = self.workdir / "server.out"
        text = self.log() + (out.read_text(errors="replace") if out.exists() else "")
        return "\n".join(text.splitlines()[-lines:])


def require_rabbitmq_server() -> None:
    """Fail (never skip) the calling test when RabbitMQ is not installed."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        pytest.fail(f"RabbitMQ is not installed ({RABBITMQ_BIN / 'rabbitmq-server'} is missing;"
                    " apt-get install rabbitmq-server): the TLS tests need a private node and "
                    "do not skip", pytrace=False)


@pytest.fixture(scope="session")
def rabbit_node(tmp_path_factory: pytest.TempPathFactory,
                pki_world: PKIWorld) -> Iterator[RabbitNode]:
    """A private node of this test run, with the TLS listener of docs/rabbitmq.md: its clients'
    certificates must come from the consortium CA of ``pki_world``; its own certificate comes
    from a test CA (``node.tls.broker_ca``). Started at the first test that asks for it, stopped
    at the end of the session."""
    require_rabbitmq_server()
    workdir = tmp_path_factory.mktemp("rabbitnode")
    broker_ca, cert, key = broker_certificate(workdir / "tls")
    node = RabbitNode(workdir, NodeTls(client_ca=pki_world.ca_dir / "ca.crt", cert=cert,
                                       key=key, broker_ca=broker_ca))
    try:
        node.start()
        yield node
    finally:
        node.stop()
