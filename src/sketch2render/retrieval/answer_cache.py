"""Search answers kept for a repeated question.

Someone drawing re-renders the same words at every stroke, and every render searches the library
for them. The answer changes only when the question, the library or the learned side does, so it is
kept under a token: the library drops every answer when a style is added, removed or reloaded
(`clear`, under its lock), and the learned side names what it depends on (`Learning.token`: its
weights and the signal store's version, so a new correction is seen at once). Answers also expire
after `TTL_S`, since feedback decays with time. One of the `Caches` (render/caches.py), handed to
the library by its builder; with `S2R_CACHES=off` the library has none and every search runs.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence

from cachetools import TTLCache

from ..schemas import StyleHit

SIZE = 256  # questions kept (a few KB each)
TTL_S = 60.0


class Answers:
    def __init__(self, size: int = SIZE, ttl_s: float = TTL_S) -> None:
        self._kept: TTLCache[Hashable, tuple[Hashable, tuple[StyleHit, ...]]] = TTLCache(size, ttl_s)
        self._lock = threading.Lock()

    def get(self, key: Hashable, token: Hashable) -> list[StyleHit] | None:
        """The kept answer to `key` if it was found under `token`, else None."""
        with self._lock:
            kept = self._kept.get(key)
        return list(kept[1]) if kept is not None and kept[0] == token else None

    def put(self, key: Hashable, token: Hashable, hits: Sequence[StyleHit]) -> None:
        with self._lock:
            self._kept[key] = (token, tuple(hits))

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)
