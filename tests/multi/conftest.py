"""Two API processes acting as one service: real uvicorn processes (`tests/api/fake_server.py`: the
real app on the fake render service, so no model loads) on one fresh PostgreSQL database
(`S2R_DATABASE_URL`), one shared data folder (`S2R_HOME`) and one Chroma server for the styles,
with a short job lease so a killed process's job is taken over within seconds.

- `cluster` (per module): the two processes ("a" and "b"), the keys of alice, bob (users) and root
  (admin) made with `sketch2render keys add` on the shared database, and `cluster.client()`: an
  HTTP client that sends each request to the next process in turn, as a load balancer would.
- Between tests, `fresh_jobs` waits until no job is left queued or running and empties the job
  table and the render folders, so each test starts with no history (a process killed by a test
  is started again).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from waiting import eventually

from sketch2render.scale.chroma_server import ChromaServer

TESTS = Path(__file__).resolve().parents[1]
USERS = {"alice": "user", "bob": "user", "root": "admin"}
LEASE_S = 3  # S2R_JOB_LEASE_S: a killed process's job goes back to the queue this long after its last renewal
STEP_DELAY_S = 0.1  # each fake step; a render of N steps takes N tenths of a second
ACTIVE = ("queued", "running")
OWNER_MAX = 6  # S2R_QUEUE_MAX_PER_PRINCIPAL: jobs one key may have waiting


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One API process: `tests/api/fake_server.py` on the shared settings, its output in a log."""

    def __init__(self, name: str, env: dict[str, str], log: Path, *, real: bool = False) -> None:
        """`real`: `python -m sketch2render.api` (the models S2R_MODELS names) instead of the fake server."""
        self.name, self.log = name, log
        self.port = _free_port()
        command = ["-m", "sketch2render.api", "--port"] if real else [str(TESTS / "api" / "fake_server.py")]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *command, str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, key: str, timeout: float = 90) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"{self.name} exited: {self.log.read_text()[-3000:]}"
            return self.http.get("/readyz", headers={"Authorization": f"Bearer {key}"}).status_code == 200

        what = lambda: f"API process {self.name} to be ready: {self.log.read_text()[-2000:]}"  # noqa: E731
        eventually(ready, timeout, 0.2, what=what, ignoring=(httpx.TransportError,))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()


class RoundRobin(httpx.BaseTransport):
    """Each request goes to the next API process, as a load balancer would send it."""

    def __init__(self, nodes: list[Node]) -> None:
        self._next = itertools.cycle(range(len(nodes)))
        self.nodes = nodes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        node = self.nodes[next(self._next)]
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=node.port)
        sent = node.http.send(
            httpx.Request(request.method, url, headers=request.headers, content=request.read()), stream=True
        )
        return httpx.Response(sent.status_code, headers=sent.headers, stream=sent.stream, extensions=sent.extensions)


@dataclass
class Cluster:
    home: Path
    database_url: str
    chroma_url: str
    logs: Path
    sentence_model: Path
    real: bool = False  # the processes are `python -m sketch2render.api` (else the fake server)
    extra_env: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
        env.update(
            S2R_HOME=str(self.home),
            S2R_DATABASE_URL=self.database_url,
            S2R_CHROMA_URL=self.chroma_url,
            S2R_JOB_LEASE_S=str(LEASE_S),
            S2R_SENTENCE_MODEL=str(self.sentence_model),
            S2R_QUEUE_MAX_PER_PRINCIPAL=str(OWNER_MAX),
            # one bucket per principal in the database, shared by both processes: high enough for tests that poll
            S2R_RATE_LIMIT="1000",
            S2R_RATE_BURST="5000",
            FAKE_STEP_DELAY=str(STEP_DELAY_S),
            FAKE_LEARNING="1",
        )
        env.update({**self.extra_env, **extra})
        return env

    def keys_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sketch2render", "keys", *args], env=self.env(), capture_output=True, text=True
        )

    def add_key(self, name: str, role: str) -> str:
        made = self.keys_cli("add", name, "--role", role)
        assert made.returncode == 0, made.stderr
        self.keys[name] = made.stdout.strip()
        return self.keys[name]

    def start(self, name: str) -> Node:
        node = Node(name, self.env(), self.logs / f"{name}.log", real=self.real)
        self.nodes[name] = node
        return node

    def ensure_running(self) -> None:
        """Every process up (one a test killed is started again)."""
        started = [self.start(name) for name, node in list(self.nodes.items()) if not node.alive]
        for node in started:
            node.wait_ready(self.keys["root"])

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def client(self) -> httpx.Client:
        """One client over every process, in turn (each request to the next)."""
        return httpx.Client(base_url="http://cluster", transport=RoundRobin(list(self.nodes.values())), timeout=30)

    def node_running(self, job: dict) -> Node:
        """The process whose worker runs (or ran) `job` (its worker id holds the pid)."""
        pid = int(str(job["worker"]).split(":")[1])
        return next(node for node in self.nodes.values() if node.pid == pid)

    def other(self, node: Node) -> Node:
        return next(n for n in self.nodes.values() if n is not node)

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.log")))

    def sql(self, statement: str) -> list[tuple]:
        """Run `statement` on the job table's database (PostgreSQL; the data folder's SQLite file for a
        job store not on it)."""
        with psycopg.connect(self.database_url) as conn:
            if conn.execute("SELECT to_regclass('jobs')").fetchone()[0] is not None:
                cursor = conn.execute(statement)
                return cursor.fetchall() if cursor.description else []
        with sqlite3.connect(self.home / "jobs.sqlite3") as conn:
            return conn.execute(statement).fetchall()

    def active_jobs(self) -> int:
        return self.sql("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")[0][0]

    def forget_jobs(self) -> None:
        """No job left waiting or running (asked to cancel, then waited for), then no job at all."""
        client = self.client()
        try:
            for status in ACTIVE:
                listed = client.get("/v1/renders", params={"all": "true", "status": status, "limit": 200},
                                    headers=self.auth("root")).json()  # fmt: skip
                for job in listed.get("items", []):
                    client.delete(f"/v1/renders/{job['id']}", headers=self.auth("root"))
        finally:
            client.close()
        eventually(lambda: self.active_jobs() == 0, 30, 0.1, what=lambda: f"no job left running\n{self.log_text()}")
        self.sql("DELETE FROM jobs")
        shutil.rmtree(self.home / "renders", ignore_errors=True)
        (self.home / "renders").mkdir(parents=True, exist_ok=True)


@contextmanager
def running_cluster(
    postgres_server, root: Path, sentence_model: Path, *, real: bool = False, ready_s: float = 90, **env: str
) -> Iterator[Cluster]:
    """Processes "a" and "b" on a fresh database, a fresh data folder and their own Chroma server,
    with the keys of `USERS`; everything stopped and dropped at the end."""
    url = postgres_server.new_database()
    chroma = ChromaServer(root / "chroma-server")
    chroma.start()
    (root / "logs").mkdir()
    cluster = Cluster(root / "home", url, chroma.url, root / "logs", sentence_model, real=real, extra_env=env)
    try:
        for name, role in USERS.items():
            cluster.add_key(name, role)
        for name in ("a", "b"):
            cluster.start(name)
        for node in cluster.nodes.values():
            node.wait_ready(cluster.keys["root"], ready_s)
        yield cluster
    finally:
        for node in cluster.nodes.values():
            node.stop(signal.SIGKILL)
        chroma.stop()
        postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory, sentence_stand_in) -> Iterator[Cluster]:
    with running_cluster(postgres_server, tmp_path_factory.mktemp("cluster"), sentence_stand_in) as cluster:
        yield cluster


@pytest.fixture
def fresh_jobs(cluster) -> Iterator[Cluster]:
    """The cluster with every process up and no job history."""
    cluster.ensure_running()
    cluster.forget_jobs()
    yield cluster
