"""The Chroma server that render workers and API processes share the style library through.

`run_foreground` is `sketch2render chroma-server` (the chromadb package's own server, as
`chroma run` starts it). `ChromaServer` runs one as a child process: what the API does when
`S2R_BACKEND=ray` and no `S2R_CHROMA_URL` is given. The child watches its parent and exits when
the parent is gone, so even a `kill -9` of the API leaves no server holding the store.
Left out: authentication and TLS (bind it to loopback or a private network).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ChromaUnavailable

log = logging.getLogger("sketch2render.scale")

# The child: exit when the parent dies (the Rust server releases the GIL, so the watcher runs).
_CHILD = """
import os, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
import chromadb_rust_bindings
chromadb_rust_bindings.cli(["chroma", *sys.argv[2:]])
"""


def _run_args(path: Path, host: str, port: int) -> list[str]:
    return ["run", "--path", str(path), "--host", host, "--port", str(port)]


def run_foreground(path: Path, host: str, port: int) -> None:
    """Serve until interrupted (blocking). The store at `path` must belong to this server alone."""
    import chromadb_rust_bindings

    Path(path).mkdir(parents=True, exist_ok=True)
    try:
        chromadb_rust_bindings.cli(["chroma", *_run_args(Path(path), host, port)])
    except KeyboardInterrupt:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_up(url: str, timeout: float = 1.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/v2/heartbeat", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class ChromaServer:
    """A Chroma server child process on a loopback port, its output in `<path>/server.log`."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.path = Path(path)
        self.host = host
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        """Start and wait until it answers; returns its URL."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        args = [sys.executable, "-c", _CHILD, str(os.getpid()), *_run_args(self.path, self.host, self.port)]
        with open(self.path / "server.log", "ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not is_up(self.url, timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ChromaUnavailable(
                    f"the Chroma server did not start on {self.url}; see {self.path / 'server.log'}"
                )
            time.sleep(0.2)
        log.info("Chroma server on %s (store %s)", self.url, self.path)
        return self.url

    def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
