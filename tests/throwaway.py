"""Servers of a test's own, on free ports, that the test may stop and start.

Fault tests stop their dependencies; the machine's shared PostgreSQL, Redis and
RabbitMQ are never touched. A throwaway PostgreSQL cluster is made with the
machine's own binaries (``initdb``, ``pg_ctl``), run as the ``postgres`` user when
the tests run as root (PostgreSQL refuses to run as root). A throwaway RabbitMQ
node runs the machine's ``rabbitmq-server`` under a node name, ports, config,
database and logs of its own (never the machine's node on 5672).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.email_support import free_port
from tests.services import missing


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        missing(f"PostgreSQL's {name} (package postgresql)")
    return str(found)


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, trust auth, on 127.0.0.1:``port``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.user: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no postgres user to run PostgreSQL as")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.user = ["runuser", "-u", "postgres", "--"]
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.user, *args], check=True, capture_output=True, text=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once, as a crash or a failover would (connections are cut)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


class ThrowawayRedis:
    """A Redis server of the test's own on a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server (package redis-server)")
        self.process = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: as a crash (its queues are lost with it, as they would be)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class ThrowawayRabbitMQ:
    """A RabbitMQ node of the test's own: its own node name, AMQP and distribution
    ports, config file, Mnesia database and logs, all in a temporary folder.

    The packaged ``/usr/sbin/rabbitmq-server`` switches to the ``rabbitmq`` user and
    reads ``/etc/rabbitmq`` (whose config listens on 5672, the machine's node), so
    the node is started through the script behind it with every path set here.
    Erlang nodes find each other through epmd: the node registers its unique name
    with the machine's epmd on 127.0.0.1:4369 (Erlang starts one if none runs);
    its distribution port is a free port of its own, so it never meets the
    machine's node. ``kill`` is a crash (SIGKILL to the node's process group);
    ``start`` again brings the same node back on the same ports with its durable
    queues and persistent messages, as a restarted broker would.
    """

    START_SECONDS = 120  # the node takes 10-30 s to boot on a loaded 2-core machine

    def __init__(self) -> None:
        binary = RABBITMQ_SERVER if os.path.exists(RABBITMQ_SERVER) else None
        if binary is None or shutil.which("erl") is None:
            missing("rabbitmq-server (package rabbitmq-server)")
        self.port, self.dist_port = free_port(), free_port()
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-rabbitmq-"))
        self.node = f"sbtest{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[].\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.root),  # the Erlang cookie of this node alone
            RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    def start(self) -> None:
        log = (self.root / "server.out").open("ab")
        self.process = subprocess.Popen(
            [RABBITMQ_SERVER], env=self._env(), cwd=self.root, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + self.START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.answers():
                return
            time.sleep(0.25)
        tail = (self.root / "server.out").read_text(errors="replace")[-3000:]
        self.kill()
        raise AssertionError(f"the throwaway RabbitMQ node did not come up:\n{tail}")

    def answers(self) -> bool:
        """Whether the node speaks AMQP on its port (its protocol header answered)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.sendall(b"AMQP\x00\x00\x09\x01")
                return conn.recv(8)[:1] == b"\x01"  # a Connection.Start frame
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL to the node and everything it started: a crash."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
