"""What a render request cannot cost less than, on this machine: the floors under `overhead`'s
one-client number, each measured on its own in the same run: which physical cost stops it.

- `http_post`: an empty FastAPI endpoint (`benchmarks.floor_app`, uvicorn as the API runs it)
  taking the same multipart upload (the 512² PNG sketch and four form fields) from the same httpx
  client: the HTTP, multipart and framework cost of a submission that does nothing.
- `sse_event`: the same server pushes one event from another thread (as the render worker does)
  to a client already following an event stream: client-side latency from the push to the line.
- `inflate`: zlib alone on the sketch's compressed pixels (a PNG cannot be checked without it).
- `chroma_query`: Chroma's own query (ids and distances) on a three-style collection.
- `sqlite_row`: inserting a job row and updating it (WAL, synchronous=NORMAL, as the job store).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .common import REPO_ROOT, child_env, free_port, stats_ms

FORM = {"prompt": "a great wave, ukiyo-e woodblock print", "steps": "1", "size": "64"}


def _idat(png: bytes) -> bytes:
    """The concatenated compressed pixel data of a PNG."""
    out, pos = bytearray(), 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            out += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return bytes(out)


def _repeat(fn, repeats: int, warm: int = 5) -> dict[str, float | int]:
    for _ in range(warm):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return stats_ms(samples)


def inflate(png: bytes, repeats: int) -> dict[str, float | int]:
    compressed = _idat(png)
    return _repeat(lambda: zlib.decompress(compressed), repeats)


def chroma_query(repeats: int, dim: int = 512) -> dict[str, float | int]:
    import chromadb

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="s2r-floor-chroma-") as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=chromadb.config.Settings(anonymized_telemetry=False))
        collection = client.get_or_create_collection(
            "floor", metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        collection.add(ids=["a", "b", "c"], embeddings=rng.standard_normal((3, dim)).tolist())
        query = rng.standard_normal(dim).tolist()
        return _repeat(lambda: collection.query(query_embeddings=[query], n_results=3, include=["distances"]), repeats)


def sqlite_row(repeats: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="s2r-floor-sqlite-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "jobs.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT, params TEXT, result TEXT)")
        params, result = "p" * 600, "r" * 3000  # about the size of a job's parameters and recipe

        def row() -> None:
            rowid = conn.execute("INSERT INTO jobs (status, params) VALUES ('queued', ?)", (params,)).lastrowid
            conn.execute("UPDATE jobs SET status = 'succeeded', result = ? WHERE id = ?", (result, rowid))

        out = _repeat(row, repeats)
        conn.close()
        return out


class FloorServer:
    """`benchmarks.floor_app` under uvicorn in a child process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FloorServer:
        command = [sys.executable, "-m", "uvicorn", "benchmarks.floor_app:app", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, "--log-level", "warning"], cwd=REPO_ROOT, env=child_env(), stderr=subprocess.DEVNULL
        )
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("the floor app did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(15)


async def _http(url: str, sketch: bytes, repeats: int) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        posts, events = [], []
        for i in range(repeats + 5):
            t0 = time.perf_counter()
            response = await client.post(
                "/renders", files={"sketch": ("sketch.png", sketch, "image/png")}, data={**FORM, "seed": str(i)}
            )
            posts.append(time.perf_counter() - t0)
            if response.status_code != 202:
                raise RuntimeError(f"the floor app answered {response.status_code}")
            async with client.stream("GET", "/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):  # the server's perf_counter at the push (one clock per machine)
                        events.append(time.perf_counter() - json.loads(line.removeprefix("data:"))["pushed"])
                        break
        return {"http_post": stats_ms(posts[5:]), "sse_event": stats_ms(events[5:])}


def measure(png: bytes, repeats: int = 60) -> dict[str, Any]:
    """Every floor, and their sum: what one render request costs at the very least."""
    with FloorServer() as server:
        out: dict[str, Any] = asyncio.run(_http(server.url, png, repeats))
    out["inflate"] = inflate(png, repeats)
    out["chroma_query"] = chroma_query(repeats)
    out["sqlite_row"] = sqlite_row(repeats)
    out["sum_p50_ms"] = round(sum(block["p50_ms"] for block in out.values()), 2)
    out["sketch"] = f"{len(png) // 1024} KB PNG"
    return out


if __name__ == "__main__":  # python -m benchmarks.floors: the floors alone
    from .overhead import encoded, make_sketch

    print(json.dumps(measure(encoded(make_sketch(512, seed=1), "PNG")), indent=1))
