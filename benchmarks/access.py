"""Keys and request rate on every request: what moving them into PostgreSQL (`S2R_DATABASE_URL`)
costs per request, against the embedded defaults measured in the same run.

- keys: `Authenticator.authenticate` with `keys.json` (one stat per request, the baseline) vs the
  database key store re-checking its version counter on every request (one primary-key read);
- rate: the in-memory token bucket (the baseline) vs the shared bucket (one upsert per request),
  on PostgreSQL and, for reference, on a SQLite file; and four threads taking from one principal's
  bucket at once (one row: they queue on its lock);
- per request: the whole `AuthMiddleware` in front of an empty app (what a request pays before
  any route runs): file keys + memory bucket vs database keys + shared bucket (run in a worker
  thread, off the event loop; the same checks run on the loop, to show what the thread hop costs).

PostgreSQL: `--database-url`, else a throw-away server (tests/postgres.py) on this machine, over
loopback TCP: a database on another machine adds its network round trips (two per request).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, log, ratio, stats_ms

CALLS = {"tiny": 300, "full": 3000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None, help="postgresql://… (default: a throw-away local server)")
    parser.add_argument("--calls", type=int, default=None, help="calls per measurement (default: 300 tiny, 3000 full)")


def _each(fn: Callable[[], object], calls: int) -> list[float]:
    for _ in range(min(50, calls)):  # warm: pools, caches
        fn()
    seconds = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return seconds


def _threads(fn: Callable[[], object], calls: int, workers: int = 4) -> dict[str, Any]:
    seconds: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        mine = _each(fn, calls // workers)
        with lock:
            seconds.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    return {"workers": workers, **stats_ms(seconds), "calls_per_s": round(len(seconds) / wall)}


def _middleware_seconds(authenticator, limiter, key: str, calls: int, *, offload: bool | None = None) -> list[float]:
    from sketch2render.api.metrics import ApiMetrics
    from sketch2render.api.middleware import AuthMiddleware

    async def empty(scope, receive, send) -> None:
        return None

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message) -> None:
        return None

    middleware = AuthMiddleware(empty, authenticator=authenticator, limiter=limiter, metrics=ApiMetrics())
    if offload is not None:  # what the worker-thread hop costs, against the same checks on the loop
        middleware.blocking = offload
    headers = [(b"authorization", f"Bearer {key}".encode())]

    async def measure() -> list[float]:
        seconds = []
        for n in range(calls + 50):
            scope = {"type": "http", "method": "GET", "path": "/v1/renders", "headers": headers}
            t0 = time.perf_counter()
            await middleware(scope, receive, send)
            if n >= 50:
                seconds.append(time.perf_counter() - t0)
        return seconds

    return asyncio.run(measure())


def _postgres(url: str | None):
    if url:
        return url, None
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from postgres import PostgresServer, find_binaries

    bindir = find_binaries()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries here: pass --database-url")
    server = PostgresServer(bindir).start()
    return server.new_database(), server


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.api.limits import RateLimiter, SharedRateLimiter
    from sketch2render.principals import Authenticator, KeyStore
    from sketch2render.principals.shared import DatabaseKeyStore

    calls = args.calls or CALLS[args.size]
    url, server = _postgres(args.database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="s2r-bench-access-") as tmp:
            root = Path(tmp)
            file_keys = KeyStore(root / "keys.json")
            db_keys = DatabaseKeyStore(url)
            names = [f"user{i}" for i in range(20)]  # a team's worth of keys in both stores
            file_key = [file_keys.add(n, "user")[1] for n in names][-1]
            db_key = [db_keys.add(n, "user")[1] for n in names][-1]
            by_file, by_db = Authenticator(["env"], file_keys), Authenticator(["env"], db_keys)
            log("keys: authenticate per request")
            keys = {
                "keys_json": stats_ms(_each(lambda: by_file.authenticate(f"Bearer {file_key}"), calls)),
                "postgresql": stats_ms(_each(lambda: by_db.authenticate(f"Bearer {db_key}"), calls)),
            }
            keys["postgresql_vs_keys_json"] = ratio(keys["postgresql"]["p50_ms"], keys["keys_json"]["p50_ms"])

            log("rate: acquire per request")
            huge = 1e9  # never refused: every call pays the full refill-and-take
            memory = RateLimiter(huge, 10**9)
            shared_pg = SharedRateLimiter(url, huge, 10**9)
            shared_sqlite = SharedRateLimiter(root / "limits.sqlite3", huge, 10**9)
            rate = {
                "memory": stats_ms(_each(lambda: memory.acquire("alice"), calls)),
                "postgresql": stats_ms(_each(lambda: shared_pg.acquire("alice"), calls)),
                "sqlite_file": stats_ms(_each(lambda: shared_sqlite.acquire("alice"), calls)),
                "postgresql_4_threads_one_principal": _threads(lambda: shared_pg.acquire("bob"), calls),
            }

            log("per request: the auth middleware in front of an empty app")
            middleware = {
                "embedded": stats_ms(_middleware_seconds(by_file, RateLimiter(huge, 10**9), file_key, calls)),
                "postgresql": stats_ms(_middleware_seconds(by_db, shared_pg, db_key, calls)),
                "postgresql_on_the_event_loop": stats_ms(
                    _middleware_seconds(by_db, shared_pg, db_key, calls, offload=False)
                ),
            }
            middleware["added_p50_ms"] = round(middleware["postgresql"]["p50_ms"] - middleware["embedded"]["p50_ms"], 4)
            for closing in (db_keys, shared_pg, shared_sqlite):
                closing.close()
    finally:
        if server is not None:
            server.stop()
    where = "given" if args.database_url else "throw-away local server, loopback TCP"
    return {"calls": calls, "postgresql": where, "keys": keys, "rate": rate, "middleware": middleware}


def summary(result: dict[str, Any]) -> str:
    r = result["results"]
    keys, rate = r["keys"], r["rate"]
    return (
        f"keys p50: keys.json {keys['keys_json']['p50_ms']} ms, PostgreSQL {keys['postgresql']['p50_ms']} ms; "
        f"rate p50: memory {rate['memory']['p50_ms']} ms, PostgreSQL {rate['postgresql']['p50_ms']} ms; "
        f"middleware p50: embedded {r['middleware']['embedded']['p50_ms']} ms, "
        f"PostgreSQL {r['middleware']['postgresql']['p50_ms']} ms (+{r['middleware']['added_p50_ms']} ms)"
    )
