"""`serve()`'s bind rules, and a real uvicorn server (in a thread, on the fake service): a chunked
upload over a socket is cut off with 413, and a SIGTERM-style exit ends event streams at once,
re-queues the held render and stops cleanly."""

from __future__ import annotations

import json
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from waiting import eventually

from api.conftest import sketch_png
from api.fakes import FakeRenderService
from sketch2render.api import create_app, serve
from sketch2render.api.server import check_bind, is_loopback, make_server
from sketch2render.errors import InvalidParameter


def test_public_bind_without_keys_is_refused(harness):
    settings = harness.settings()
    for host in ["0.0.0.0", "::", "192.168.1.20", "example.com"]:
        with pytest.raises(InvalidParameter, match="S2R_API_KEYS"):
            serve(settings, host=host, port=1)
    assert check_bind(harness.settings(api_keys=["k"]), "0.0.0.0") is None


def test_loopback_without_keys_says_so(harness, monkeypatch):
    printed, ran = [], []
    monkeypatch.setattr("uvicorn.Server.run", lambda self, *a, **k: ran.append(self.config.host))
    serve(harness.settings(), host="127.0.0.1", port=1, echo=printed.append)
    assert ran == ["127.0.0.1"] and "loopback only" in printed[0]
    assert all(is_loopback(h) for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(harness) -> Iterator[tuple[str, object, FakeRenderService]]:
    settings = harness.settings(max_upload_bytes=200_000)
    fake = FakeRenderService(settings, gate=threading.Event())
    port = _free_port()
    server = make_server(create_app(settings, fake, shutdown_grace=0.3), "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn did not start"
        return server.started

    eventually(started, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}", server, fake
    fake.gate.set()
    server.should_exit = True
    thread.join(10)


def test_chunked_upload_is_cut_off_with_413(live):
    url, server, _ = live
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/renders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )
    head = b'--b\r\nContent-Disposition: form-data; name="sketch"; filename="s.png"\r\n\r\n'
    sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))  # a valid multipart start, then endless file data
    chunk = b"x" * 65_536
    sent = 0
    try:
        readable = select.poll()  # poll, not select: select() fails on descriptors past 1023
        readable.register(sock, select.POLLIN)
        while sent < 50_000_000 and not readable.poll(0):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    time.sleep(0.1)
    reply = sock.recv(65_536)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"too_large"' in reply and b"nosniff" in reply.lower()
    assert sent < 20_000_000  # refused early (socket buffers hold a few MB), not after 50 MB


def test_sigterm_ends_streams_and_requeues_the_running_render(live):
    url, server, fake = live
    with httpx.Client(base_url=url, timeout=10) as http:
        files = {"sketch": ("s.png", sketch_png(), "image/png")}
        job_id = http.post("/v1/renders", data={"prompt": "x", "size": "64"}, files=files).json()["id"]
        assert fake.started.wait(5)
        events: list[str] = []

        def listen():
            with http.stream("GET", f"/v1/renders/{job_id}/events") as response:
                events.extend(response.iter_lines())

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.handle_exit(signal.SIGTERM, None)
        listener.join(5)
        assert not listener.is_alive() and time.monotonic() - started < 3
    statuses = [json.loads(e[6:])["status"] for e in events if e.startswith("data: ")]
    assert statuses and statuses[-1] == "running"
    store = server.config.app.state.runtime.store
    eventually(lambda: store is None or store.closed, 10, 0.05, what="the job store to close")
    assert store.closed
    from sketch2render.jobs.store import JobStore

    reopened = JobStore(store.db_path, store.renders_dir, queue_max=5, max_history=10)
    assert reopened.get(job_id).status == "queued" and reopened.get(job_id).attempts == 0
    reopened.close()
