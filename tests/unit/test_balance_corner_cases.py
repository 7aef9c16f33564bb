"""Auto-balance at its edges (render/balance.py), with known answers: exact thresholds, ties, the
grid's bounds and the report, written against the mutants that survived (docs/mutation.md)."""

from __future__ import annotations

import math

import pytest

from sketch2render.render.balance import DEFAULT_GRID, auto_balance, choose
from sketch2render.schemas import RenderParams


def probe(f1: float, similarity: float | None, name: str = "") -> dict:
    return {"f1": f1, "style_similarity": similarity, "name": name}


def run(table, **kwargs):
    """auto_balance over a (control, style) -> (f1, similarity) table; returns its result and the probes."""
    seen = []

    def render_fn(params):
        seen.append(params)
        return [(params.control_strength, params.style_strength)]

    result = auto_balance(render_fn, lambda image: table[image], RenderParams(prompt="x", steps=20), **kwargs)
    return result, seen


def test_a_probe_exactly_at_the_threshold_passes():
    best = choose([probe(0.3, 0.9, "at"), probe(0.8, 0.1, "above")], 0.3)
    assert best["name"] == "at"
    (control, style, report), _ = run({(1.0, 0.5): (0.3, 0.9), (1.0, 0.6): (0.8, 0.1)}, grid=((1.0,), (0.5, 0.6)))
    assert (control, style, report["chosen"]["met_threshold"]) == (1.0, 0.5, True)


def test_ties_in_style_go_to_the_higher_f1_and_ties_in_f1_to_more_style():
    assert choose([probe(0.5, 0.7, "a"), probe(0.6, 0.7, "b"), probe(0.4, 0.7, "c")], 0.3)["name"] == "b"
    assert choose([probe(0.2, 0.1, "a"), probe(0.2, 0.5, "b"), probe(0.1, 0.9, "c")], 0.3)["name"] == "b"


def test_no_style_similarity_ranks_below_any_similarity():
    assert choose([probe(0.9, None, "none"), probe(0.4, -0.5, "some")], 0.3)["name"] == "some"
    assert choose([probe(0.2, None, "none"), probe(0.2, -0.5, "some")], 0.3)["name"] == "some"
    assert choose([probe(0.5, None, "a"), probe(0.6, None, "b")], 0.3)["name"] == "b"


def test_nothing_to_choose_from_is_an_error():
    with pytest.raises(ValueError, match="^nothing to choose from$"):
        choose([], 0.3)


def test_the_default_grid_is_three_by_three_and_probes_run_in_order():
    table = {(c, s): (0.1 * c, s) for c in DEFAULT_GRID[0] for s in DEFAULT_GRID[1]}
    (_, _, report), seen = run(table)
    expected = [(c, s) for c in (0.6, 1.0, 1.4) for s in (0.4, 0.7, 1.0)]
    assert [(p.control_strength, p.style_strength) for p in seen] == expected
    assert [(p["control"], p["style"]) for p in report["grid"]] == expected
    assert {p.steps for p in seen} == {4} and report["probe_steps"] == 4 and report["threshold"] == 0.3
    assert report["chosen"]["met_threshold"] is False  # every f1 here is below 0.3
    assert isinstance(report["seconds"], float) and 0 <= report["seconds"] < 5


def test_repeated_grid_values_are_probed_once():
    table = {(1.0, 0.5): (0.5, 0.5), (1.5, 0.5): (0.6, 0.4)}
    (_, _, report), seen = run(table, grid=((1.0, 1, 1.5), (0.5, 0.5)))
    assert [(p.control_strength, p.style_strength) for p in seen] == [(1.0, 0.5), (1.5, 0.5)]


@pytest.mark.parametrize("bound", [0.0, 2.0, 0, 2])
def test_grid_bounds_are_inclusive(bound):
    (control, style, _), _ = run({(float(bound), float(bound)): (0.5, 0.5)}, grid=((bound,), (bound,)))
    assert (control, style) == (bound, bound)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (((1.0,),), "the grid needs two non-empty axes: (control strengths, style strengths)"),
        (((1.0,), (0.5,), (0.5,)), "the grid needs two non-empty axes: (control strengths, style strengths)"),
        (((1.0,), ()), "the grid needs two non-empty axes: (control strengths, style strengths)"),
        (((), (0.5,)), "the grid needs two non-empty axes: (control strengths, style strengths)"),
        (((2.01,), (0.5,)), "grid strengths must be between 0 and 2, got 2.01"),
        (((1.0,), (-0.01,)), "grid strengths must be between 0 and 2, got -0.01"),
        (((math.nan,), (0.5,)), "grid strengths must be between 0 and 2, got nan"),
        (((1.0,), (math.inf,)), "grid strengths must be between 0 and 2, got inf"),
        (((1.0,), ("1",)), "grid strengths must be between 0 and 2, got '1'"),
    ],
)
def test_bad_grids_are_refused_with_the_reason(grid, message):
    with pytest.raises(ValueError) as caught:
        run({}, grid=grid)
    assert str(caught.value) == message


def test_probe_steps_must_be_at_least_one_and_never_exceed_the_render():
    (_, _, report), seen = run({(1.0, 0.5): (0.5, 0.5)}, grid=((1.0,), (0.5,)), probe_steps=1)
    assert report["probe_steps"] == 1 and seen[0].steps == 1 and seen[0].num_images == 1
    (_, _, report), _ = run({(1.0, 0.5): (0.5, 0.5)}, grid=((1.0,), (0.5,)), probe_steps=25)
    assert report["probe_steps"] == 20
    with pytest.raises(ValueError) as caught:
        run({}, probe_steps=0)
    assert str(caught.value) == "probe_steps must be >= 1, got 0"
