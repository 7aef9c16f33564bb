"""Waiting in tests: `eventually` polls a condition until it holds, or fails saying what it waited
for. Every "wait until the server is up / the job ended / the file appeared" in the suite goes
through it instead of a hand-written deadline loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    *,
    what: str | Callable[[], str] | None = None,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `condition` every `interval` seconds until it returns something truthy, and return that.

    After `timeout` seconds it raises AssertionError naming `what` it waited for (a callable is
    called then, so the message can show the latest state), or the condition's own name, and the
    last value it gave. An assertion inside the condition fails at once (e.g. "the server process
    is still alive"); exceptions of the types in `ignoring` count as "not yet" (a server that does
    not accept connections yet)."""
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        value = None
        try:
            value = condition()
        except ignoring as exc:
            error = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            waited_for = what() if callable(what) else what or getattr(condition, "__name__", repr(condition))
            last = f"it raised {error!r}" if error is not None else f"it last gave {value!r}"
            raise AssertionError(f"waited {timeout:g} s for {waited_for}; {last}") from error
        time.sleep(interval)
