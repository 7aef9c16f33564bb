"""The tests' own `eventually` (tests/waiting.py): it returns the first truthy value, fails naming
what it waited for, lets an assertion through at once and treats the `ignoring` errors as "not yet"."""

from __future__ import annotations

import itertools

import pytest
from waiting import eventually


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, [], "done"])
    assert eventually(lambda: next(values), 1, 0) == "done"


def test_times_out_naming_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waited 0.05 s for the queue to drain; it last gave \[\]"):
        eventually(lambda: [], 0.05, 0.01, what="the queue to drain")
    state = {"n": 0}

    def never() -> bool:
        state["n"] += 1
        return False

    with pytest.raises(AssertionError, match=r"for never; it last gave False"):
        eventually(never, 0.05, 0.01)
    with pytest.raises(AssertionError, match=r"for job 7: \d+ tries"):
        eventually(never, 0.05, 0.01, what=lambda: f"job 7: {state['n']} tries")


def test_an_assertion_inside_fails_at_once() -> None:
    calls = itertools.count()

    def dead() -> bool:
        next(calls)
        raise AssertionError("the server exited")

    with pytest.raises(AssertionError, match="the server exited"):
        eventually(dead, 10, 0.01)
    assert next(calls) == 1


def test_ignored_errors_mean_not_yet_and_show_on_timeout() -> None:
    tries = iter([ConnectionError("refused"), ConnectionError("refused"), "up"])

    def connect() -> str:
        result = next(tries)
        if isinstance(result, Exception):
            raise result
        return result

    assert eventually(connect, 1, 0, ignoring=(ConnectionError,)) == "up"

    def refused() -> str:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"the API; it raised ConnectionError\('refused'\)") as caught:
        eventually(refused, 0.05, 0.01, what="the API", ignoring=(ConnectionError,))
    assert isinstance(caught.value.__cause__, ConnectionError)
