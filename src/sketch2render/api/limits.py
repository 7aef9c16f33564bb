"""Per-principal request rate: a token bucket per principal name.

Each principal may send `burst` requests at once and `rate` per second after that; past it the
request is answered 429 with `Retry-After` (seconds until one token is back) before any body is
read. The cap on queued jobs per principal is the job store's (`JobStore.owner_max`), not this.

Two limiters behind `RequestLimiter`, chosen by `open_limiter`: the buckets in this process's
memory (`RateLimiter`, the default: one process serves), or, with `S2R_DATABASE_URL`, one row per
principal in that database (`SharedRateLimiter`), refilled and taken in one atomic statement, so
several API processes share one bucket per principal (a burst is shared, not multiplied by the
number of processes). The shared one reads the wall clock of each process (kept in step by NTP):
time never runs backwards for a bucket, so a process whose clock is behind refills nothing until
it catches up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import event, text

from ..config import Settings
from ..database import Database, open_database

MAX_TRACKED = 10_000  # principals are bounded by the key store; this only guards memory


class RequestLimiter(Protocol):
    rate: float
    burst: int

    @property
    def enabled(self) -> bool: ...

    @property
    def blocking(self) -> bool:
        """Whether `acquire` waits on a database (the caller then runs it off the event loop)."""
        ...

    def acquire(self, name: str) -> int | None:
        """Take one token for `name`: None when allowed, else the seconds to wait (at least 1)."""
        ...


def open_limiter(settings: Settings) -> RequestLimiter:
    """The limiter the settings name: shared through `S2R_DATABASE_URL` when set, else in memory."""
    if settings.database_url and settings.rate_limit > 0:
        return SharedRateLimiter(settings.database_url, settings.rate_limit, settings.rate_burst)
    return RateLimiter(settings.rate_limit, settings.rate_burst)


class RateLimiter:
    """The buckets in this process's memory (one API process)."""

    blocking = False

    def __init__(self, rate: float, burst: int, *, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, when)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, name: str) -> int | None:
        """Take one token for `name`: None when allowed, else the seconds to wait (at least 1)."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return None
            self._buckets[name] = (tokens, now)
            if len(self._buckets) > MAX_TRACKED:
                self._forget_full(now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they equal a fresh one)."""
        for name, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[name]


class SharedRateLimiter:
    """The buckets in the `limits` store (database/migrations/limits): one row per principal, which
    one statement refills and takes from (an upsert whose row lock makes it atomic across processes)."""

    blocking = True

    def __init__(self, where: Path | str, rate: float, burst: int, *, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self.database: Database = open_database(where, store="limits")
        if self.database.is_postgres:
            # a bucket's last few writes may be lost in a crash: no need to wait for the disk on each
            event.listen(self.database.engine, "connect", _no_synchronous_commit)
            self.database.engine.dispose()  # the connection the migration left in the pool has it too
        self._statement = text(_take_statement(self.database))

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, name: str) -> int | None:
        if not self.enabled:
            return None
        first = self.burst >= 1  # a fresh bucket is full
        args = {
            "name": name,
            "now": self._clock(),
            "rate": float(self.rate),
            "burst": float(self.burst),
            "fresh": float(self.burst - 1 if first else self.burst),
            "first": first,
        }
        with self.database.standalone(writes=True) as conn:  # one upsert, atomic by itself
            tokens, allowed = conn.execute(self._statement, args).one()
        if allowed:
            return None
        return max(1, math.ceil((1.0 - float(tokens)) / self.rate))

    def forget(self, name: str) -> None:
        """Drop a principal's bucket (it starts full again)."""
        with self.database.write() as conn:
            conn.execute(text("DELETE FROM rate_buckets WHERE principal = :name"), {"name": name})

    def close(self) -> None:
        self.database.close()


def _take_statement(database: Database) -> str:
    least, greatest = ("LEAST", "GREATEST") if database.is_postgres else ("MIN", "MAX")
    refilled = f"{least}(:burst, rate_buckets.tokens + {greatest}(0, :now - rate_buckets.updated_at) * :rate)"
    return (
        "INSERT INTO rate_buckets (principal, tokens, updated_at, allowed) VALUES (:name, :fresh, :now, :first) "
        "ON CONFLICT (principal) DO UPDATE SET "
        f"tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END, "
        f"allowed = ({refilled} >= 1), "
        f"updated_at = {greatest}(rate_buckets.updated_at, :now) "
        "RETURNING tokens, allowed"
    )


def _no_synchronous_commit(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO OFF")
    cursor.close()
    dbapi_connection.commit()
