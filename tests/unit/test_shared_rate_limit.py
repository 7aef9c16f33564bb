"""The request rate limit shared through the database (`S2R_DATABASE_URL`): two limiters on one
database, as two API processes, share each principal's bucket (a burst is shared, not doubled),
and one limiter answers as the in-memory one does. On SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from builders import make_settings

from sketch2render.api.limits import RateLimiter, SharedRateLimiter, open_limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def where(tmp_path, database_url):
    return database_url or tmp_path / "limits.sqlite3"


@pytest.fixture
def two(where):
    clock = Clock()
    first = SharedRateLimiter(where, rate=0.5, burst=3, clock=clock)
    second = SharedRateLimiter(where, rate=0.5, burst=3, clock=clock)
    yield first, second, clock
    first.close()
    second.close()


def test_two_processes_share_one_burst_and_one_refill(two):
    first, second, clock = two
    assert [first.acquire("alice"), second.acquire("alice"), first.acquire("alice")] == [None, None, None]
    assert second.acquire("alice") == 2 and first.acquire("alice") == 2  # 1 token at 0.5/s: 2 s
    assert second.acquire("bob") is None  # another principal has its own bucket
    clock.now += 2.0  # one token back, for both
    assert first.acquire("alice") is None and second.acquire("alice") == 2
    clock.now += 60.0  # refilled to the burst, never beyond
    assert [second.acquire("alice") for _ in range(4)] == [None, None, None, 2]


def test_a_clock_behind_refills_nothing_and_forget_starts_over(two):
    first, second, clock = two
    for _ in range(3):
        first.acquire("alice")
    clock.now -= 30.0  # this process's clock is behind the one that wrote last
    assert second.acquire("alice") == 2
    second.forget("alice")
    assert first.acquire("alice") is None


def test_one_shared_limiter_answers_as_the_in_memory_one(where):
    clock = Clock()
    shared = SharedRateLimiter(where, rate=2.0, burst=2, clock=clock)
    memory = RateLimiter(2.0, 2, clock=clock)
    try:
        answers = []
        for step in (0.0, 0.0, 0.0, 0.1, 0.4, 0.2, 0.0, 1.5, 0.0, 0.0, 0.0):
            clock.now += step
            answers.append((shared.acquire("alice"), memory.acquire("alice")))
        assert all(s == m for s, m in answers), answers
        assert [s for s, _ in answers].count(None) == 5
    finally:
        shared.close()


def test_the_settings_choose_the_limiter(tmp_path, database_url):
    url = database_url or f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    assert type(open_limiter(make_settings(tmp_path))) is RateLimiter  # no database URL: in memory
    shared = open_limiter(make_settings(tmp_path, database_url=url, rate_limit=1.0, rate_burst=5))
    assert isinstance(shared, SharedRateLimiter) and shared.blocking and (shared.rate, shared.burst) == (1.0, 5)
    shared.close()
    off = open_limiter(make_settings(tmp_path, database_url=url, rate_limit=0.0))
    assert not off.enabled and off.acquire("alice") is None
