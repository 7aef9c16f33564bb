"""A throw-away PostgreSQL server for tests and benchmarks: `initdb` into a temporary folder, `pg_ctl`
start on a free loopback port, a fresh database per test, everything removed at the end.

The server binaries come with the machine's PostgreSQL package (`make setup` installs it where
missing). `initdb` refuses to run as root, so as root the server runs as the `postgres` user in a
folder that user owns. `find_binaries()` is None where no PostgreSQL is installed; the fixtures
then fail with that reason (the suite needs it), never skip silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ADMIN_USER = "postgres"


def find_binaries() -> Path | None:
    """The folder holding `initdb`/`pg_ctl` (the newest installed version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """One server process; `start()` then `new_database()` per test, `stop()` at the end."""

    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="s2r-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", ADMIN_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{ADMIN_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        os.chmod(self.root, 0o755)
        data = self.root / "data"
        if self._as_root:
            shutil.chown(self.root, ADMIN_USER)
        self._run("initdb", "-D", str(data), "-U", ADMIN_USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on its data folder and port (after `start`'s initdb, or after `pause`)."""
        options = f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off -c max_connections=200"
        data, log = str(self.root / "data"), str(self.root / "server.log")
        self._run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")

    def pause(self) -> None:
        """Stop the server, keeping its data (an outage: its clients are disconnected); `resume` ends it."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"s2r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{ADMIN_USER}@127.0.0.1:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        data = self.root / "data"
        if data.is_dir():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
