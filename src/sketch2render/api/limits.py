"""Per-principal request rate: a token bucket per principal name, in this process's memory.

Each principal may send `burst` requests at once and `rate` per second after that; past it the
request is answered 429 with `Retry-After` (seconds until one token is back) before any body is
read. The cap on queued jobs per principal is the job store's (`JobStore.owner_max`), not this.
Left out: sharing buckets between API processes (one process owns the queue).
"""

from __future__ import annotations

import math
import threading
import time

MAX_TRACKED = 10_000  # principals are bounded by the key store; this only guards memory


class RateLimiter:
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
