"""Real PostgreSQL 15 and MariaDB servers on loopback, in temporary directories, for tests and benchmarks.

Each server gets its own data directory, Unix socket directory and a free TCP port on 127.0.0.1; nothing
touches the system's own instances. As root, PostgreSQL runs as `postgres` and MariaDB as `mysql` (both
refuse root); otherwise as the invoking user. Use the session fixtures `postgres_server` /
`mariadb_server` in tests (import them into the test module; one server per process, stopped at exit),
or the classes as context managers (bench/store_refresh.py). Tests using them are marked @pytest.mark.server.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import psycopg
import pymysql
import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DBNAME = "greyd"
SCHEMA_DIR = Path(__file__).parent.parent / "data" / "schema"
_DROP = "DROP TABLE IF EXISTS entries, spamtraps, domains"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if os.geteuid() == 0 else argv


def _workdir(prefix: str, owner: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, owner, owner)
    return path


class _Server:
    """start()/stop() and context-manager plumbing; subclasses provide the commands."""

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    dir: Path

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


ServerT = TypeVar("ServerT", bound=_Server)


class PostgresServer(_Server):
    """initdb + pg_ctl, trust authentication for user `postgres`, database `greyd` (empty: load a schema)."""

    user = "postgres"

    def __init__(self) -> None:
        self.dir, self.port = _workdir("greylogd-pg-", "postgres"), free_port()
        self.data = self.dir / "data"
        subprocess.run(_as_user("postgres", [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                                             "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]),
                       check=True, capture_output=True)
        self._created = False

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        subprocess.run(_as_user("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                                             "-l", str(self.dir / "log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        if not self._created:
            with psycopg.connect(**self.params(dbname="postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DBNAME}")
            self._created = True

    def stop(self) -> None:
        subprocess.run(_as_user("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                                             "-w", "stop"]), check=False, capture_output=True)

    def params(self, dbname: str = DBNAME) -> dict[str, str | int]:
        """psycopg.connect keywords for the TCP listener."""
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "dbname": dbname}

    def execute(self, sql: str) -> None:
        """Run a script (e.g. greyd's schema file) in database `greyd`."""
        with psycopg.connect(**self.params(), autocommit=True) as conn:
            conn.execute(sql)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        """A raw autocommit connection to database `greyd` (for greyd's own SQL in tests)."""
        return psycopg.connect(**self.params(), autocommit=True)

    def reset_greyd_schema(self) -> None:
        """Empty `greyd` database with greyd's tables, loaded from greyd's schema file as an admin would."""
        self.execute(_DROP)
        self.execute((SCHEMA_DIR / "postgresql_schema.sql").read_text())


class MariadbServer(_Server):
    """mariadb-install-db + mariadbd with its own datadir, socket and port; root without password."""

    user = "root"

    def __init__(self) -> None:
        self.dir, self.port = _workdir("greylogd-my-", "mysql"), free_port()
        self.socket = str(self.dir / "mysqld.sock")
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}", *user,
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir / 'mysqld.pid'}",
             "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin",
             f"--log-error={self.dir / 'error.log'}", *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        self.execute(f"CREATE DATABASE IF NOT EXISTS {DBNAME}", dbname=None)

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                pymysql.connect(unix_socket=self.socket, user="root").close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                    log = (self.dir / "error.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"mariadbd did not start within {timeout:g} s:\n{log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
            self.proc = None

    def params(self) -> dict[str, str | int]:
        """pymysql.connect keywords for the TCP listener."""
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "database": DBNAME}

    def connect(self) -> pymysql.connections.Connection:
        """A raw autocommit connection to database `greyd` (for greyd's own SQL in tests)."""
        return pymysql.connect(**self.params(), autocommit=True)

    def reset_greyd_schema(self) -> None:
        """Empty `greyd` database with greyd's tables, loaded from greyd's schema file as an admin would."""
        self.execute(_DROP)
        self.execute((SCHEMA_DIR / "mysql_schema.sql").read_text())

    def execute(self, sql: str, dbname: str | None = DBNAME) -> None:
        """Run each `;`-terminated statement of a script (e.g. greyd's schema file)."""
        conn = pymysql.connect(unix_socket=self.socket, user="root", database=dbname, autocommit=True)
        with conn, conn.cursor() as cur:
            for statement in sql.split(";"):
                if any(line.strip() and not line.startswith("--") for line in statement.splitlines()):
                    cur.execute(statement)


_SHARED: dict[type[_Server], _Server] = {}


def shared(cls: type[ServerT]) -> ServerT:
    """The one running instance of `cls` for this process: started on first use, stopped at exit.

    A module-level singleton rather than a plain session fixture because test modules import the fixtures
    below, and pytest would otherwise start one server per importing module.
    """
    if cls not in _SHARED:
        server = cls()
        atexit.register(server.__exit__, None, None, None)
        server.start()
        _SHARED[cls] = server
    return _SHARED[cls]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The shared PostgreSQL; tests reset the `greyd` database's tables themselves."""
    return shared(PostgresServer)


@pytest.fixture(scope="session")
def mariadb_server() -> MariadbServer:
    """The shared MariaDB; tests reset the `greyd` database's tables themselves."""
    return shared(MariadbServer)
