"""The API as a child process for the benchmarks: `python -m sketch2render.api` on a free
loopback port with its own `S2R_HOME`, started, polled until ready, and stopped (SIGTERM, then
SIGKILL after a grace period). Its log goes to a file, whose tail is shown if it fails to start.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, child_env, free_port, log


class ApiServer:
    """`with ApiServer(home, models="tiny") as server: server.wait_ready()`."""

    def __init__(
        self, home: Path, models: str = "tiny", device: str = "cpu", module: str = "sketch2render.api", **settings: str
    ) -> None:
        self.module = module  # benchmarks.api_before: the same server with the pre-issue-17 behaviour
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "api-server.log"
        self.env = child_env(
            S2R_HOME=str(self.home),
            S2R_MODELS=models,
            S2R_HOST="127.0.0.1",
            S2R_PORT=str(self.port),
            S2R_DEVICE=device,
            **{f"S2R_{k.upper()}": str(v) for k, v in settings.items()},
        )
        self.proc: subprocess.Popen | None = None
        self.started_at: float | None = None

    def start(self) -> ApiServer:
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 180.0, interval: float = 0.02) -> dict[str, Any]:
        """Seconds from process start to the first `/livez` 200 and the first `/readyz` 200."""
        import httpx

        assert self.proc is not None and self.started_at is not None
        livez_s = None
        deadline = time.perf_counter() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the API exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if livez_s is None and client.get("/livez").status_code == 200:
                        livez_s = time.perf_counter() - self.started_at
                    if livez_s is not None:
                        ready = client.get("/readyz")
                        if ready.status_code == 200:
                            return {
                                "livez_s": round(livez_s, 3),
                                "readyz_s": round(time.perf_counter() - self.started_at, 3),
                                "readyz": ready.json(),
                            }
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(interval)
        raise TimeoutError(f"the API was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log("the API did not stop after SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        self.proc = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
