"""Two users and an admin against a real uvicorn process (the fake service: no models), with keys
made by the `sketch2render keys` command: every job route is a 404 for another user's job and
open to its owner and the admin; a user's style write is 403; a revoked key is refused at once;
the per-principal queue cap and request rate answer 429 with Retry-After while another principal
still gets 202; ownership survives a kill -9 and a restart; no key reaches the log, the job
records or /metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from waiting import eventually

from api.conftest import colour_png, sketch_png, wait_for
from sketch2render.principals import KeyStore, hash_key

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
JOB_ROUTES = [
    ("GET", ""),
    ("GET", "/image"),
    ("GET", "/control"),
    ("GET", "/edges"),
    ("GET", "/sketch"),
    ("GET", "/events"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
    return {**env, "S2R_HOME": str(home), **extra}


def keys_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sketch2render", "keys", *args], env=_env(home), capture_output=True, text=True
    )


class Server:
    """`tests/api/fake_server.py` in its own process, its output in a log file."""

    def __init__(self, home: Path, log: Path, **settings: str) -> None:
        self.port = _free_port()
        self.log = log
        env = _env(home, FAKE_STEP_DELAY="0.15", **settings)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(TESTS / "api" / "fake_server.py"), str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

        def live() -> bool:
            assert self.proc.poll() is None, log.read_text()[-3000:]
            return self.http.get("/livez").status_code == 200

        eventually(live, 60, 0.1, what="the server to start", ignoring=(httpx.TransportError,))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
        self.http.close()


class Caller:
    def __init__(self, server: Server, key: str) -> None:
        self.server, self.key = server, key
        self.headers = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.server.http.request(method, path, headers=self.headers, **kwargs)

    def submit(self, prompt: str = "a house") -> httpx.Response:
        data = {"prompt": prompt, "steps": "3", "size": "64", "seed": "1"}
        return self.request("POST", "/v1/renders", data=data, files={"sketch": ("s.png", sketch_png(), "image/png")})

    def wait(self, job_id: str, until=("succeeded", "failed", "cancelled"), timeout: float = 20) -> dict:
        return wait_for(self.server.http, job_id, set(until), timeout, headers=self.headers, interval=0.2)


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_two_users_and_an_admin_on_a_real_server(home, tmp_path):
    log = tmp_path / "server.log"
    # 1. Keys: alice from the command line as a person would; the others straight into the store.
    made = keys_cli(home, "add", "alice", "--role", "user")
    assert made.returncode == 0, made.stderr
    keys = {"alice": made.stdout.strip()}
    store = KeyStore(home / "keys.json")
    keys.update({name: store.add(name, role)[1] for name, role in [("bob", "user"), ("carol", "user")]})
    keys["root"] = store.add("root", "admin")[1]
    listed = keys_cli(home, "list", "--json")
    assert {(k["name"], k["role"]) for k in json.loads(listed.stdout)} == {
        ("alice", "user"), ("bob", "user"), ("carol", "user"), ("root", "admin"),
    }  # fmt: skip
    assert not any(key in listed.stdout for key in keys.values())

    server = Server(home, log, S2R_QUEUE_MAX_PER_PRINCIPAL="2", S2R_RATE_LIMIT="10", S2R_RATE_BURST="30")
    try:
        alice, bob, carol, root = (Caller(server, keys[n]) for n in ["alice", "bob", "carol", "root"])
        # 2. Alice renders; every route of her job: bob 404 (as for no job at all), alice and root 200.
        job_id = alice.submit().json()["id"]
        assert alice.wait(job_id)["status"] == "succeeded"
        for method, suffix in JOB_ROUTES:
            path = f"/v1/renders/{job_id}{suffix}"
            assert bob.request(method, path).status_code == 404, path
            assert bob.request(method, f"/v1/renders/{'0' * 32}{suffix}").status_code == 404
            assert alice.request(method, path).status_code == 200, path
            assert root.request(method, path).status_code == 200, path
        assert bob.request("DELETE", f"/v1/renders/{job_id}").status_code == 404
        assert alice.request("DELETE", f"/v1/renders/{job_id}").status_code == 409  # hers, but finished
        assert [j["id"] for j in alice.request("GET", "/v1/renders").json()["items"]] == [job_id]
        assert bob.request("GET", "/v1/renders").json()["total"] == 0
        assert root.request("GET", "/v1/renders", params={"all": "true"}).json()["total"] == 1
        # 3. Styles: users read, only admins write.
        files = {"image": ("red.png", colour_png("red"), "image/png")}
        assert alice.request("POST", "/v1/styles", files=files).status_code == 403
        style = root.request("POST", "/v1/styles", files=files).json()["id"]
        assert alice.request("GET", f"/v1/styles/{style}/image").status_code == 200
        assert bob.request("DELETE", f"/v1/styles/{style}").status_code == 403
        # 4. Queue cap: alice may have 2 waiting; her third is 429 while bob still gets 202.
        running = alice.submit("long one").json()["id"]
        alice.wait(running, until=("running",))
        waiting = [alice.submit(f"wait {i}") for i in range(2)]
        assert [r.status_code for r in waiting] == [202, 202]
        capped = alice.submit("one too many")
        assert capped.status_code == 429 and capped.json()["error"]["code"] == "principal_queue_full"
        assert int(capped.headers["retry-after"]) >= 1
        assert bob.submit("bob's turn").status_code == 202
        # 5. Request rate: carol floods and is refused with Retry-After; bob is not slowed down.
        codes = [carol.request("GET", "/v1/me").status_code for _ in range(60)]
        assert codes.count(200) >= 30 and 429 in codes
        refused = carol.request("GET", "/v1/me")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert bob.request("GET", "/v1/me").status_code == 200
        # 6. Revoking bob's key from the command line: refused from the next request on.
        assert keys_cli(home, "revoke", "bob").returncode == 0
        assert bob.request("GET", "/v1/renders").status_code == 401
        # 7. kill -9 while alice's render runs; a new process on the same home.
        alice.wait(waiting[-1].json()["id"])  # her queue has room again
        mine = alice.submit("interrupted").json()
        alice.wait(mine["id"], until=("running",), timeout=30)
        metrics_before = root.request("GET", "/metrics").text
        server.stop(signal.SIGKILL)
        server = Server(home, log)
        alice, carol, root = (Caller(server, keys[n]) for n in ["alice", "carol", "root"])
        for job in [job_id, mine["id"]]:
            assert alice.wait(job)["owner"] == "alice"
            assert carol.request("GET", f"/v1/renders/{job}").status_code == 404
            assert root.request("GET", f"/v1/renders/{job}").status_code == 200
        assert {j["owner"] for j in alice.request("GET", "/v1/renders").json()["items"]} == {"alice"}
        metrics = root.request("GET", "/metrics").text
    finally:
        server.stop()
    # 8. No key anywhere it should not be: the server's log, the job records, /metrics.
    assert 's2r_principal_requests_total{principal="alice"}' in metrics_before
    with sqlite3.connect(home / "jobs.sqlite3") as conn:
        records = repr(conn.execute("SELECT * FROM jobs").fetchall())
    for key in keys.values():
        for text in (log.read_text(), records, metrics_before, metrics):
            assert key not in text and hash_key(key) not in text
