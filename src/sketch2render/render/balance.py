"""Auto-balance: find the (ControlNet strength, style strength) pair that takes the most of the
style's look while still keeping the sketch's geometry.

Each pair of a small grid is rendered at a few steps with the render's own seed and scored
(structure F1, style similarity). Among the pairs whose F1 meets the threshold the one with the
highest style similarity wins (ties: higher F1); when none meets it, the highest F1 wins. The
caller then renders once at full steps with the chosen pair. Plain callables in and out: no
model, chain or scorer is imported here. Left out: finer searches (a 3×3 grid at 4 steps costs
about two full renders at 20 steps), and per-image choices when several images are requested.
A reference family (FLUX.2 [klein]) has no strengths: `balance_references` varies what it can, reference
1 (the sketch or its control map) and the number of style references, scored and chosen the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from PIL import Image

from ..schemas import RenderParams

DEFAULT_GRID: tuple[tuple[float, ...], tuple[float, ...]] = ((0.6, 1.0, 1.4), (0.4, 0.7, 1.0))

RenderFn = Callable[[RenderParams], Sequence[Image.Image]]  # params -> images
ScoreFn = Callable[[Image.Image], tuple[float, float | None]]  # image -> (structure F1, style similarity)


def _check_grid(grid: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if len(grid) != 2 or not grid[0] or not grid[1]:
        raise ValueError("the grid needs two non-empty axes: (control strengths, style strengths)")
    for value in (*grid[0], *grid[1]):
        if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 2.0):
            raise ValueError(f"grid strengths must be between 0 and 2, got {value!r}")
    return tuple(dict.fromkeys(map(float, grid[0]))), tuple(dict.fromkeys(map(float, grid[1])))


def choose(candidates: Sequence[dict], threshold: float) -> dict:
    """The best probe: highest style similarity among those with f1 >= threshold, else highest f1."""
    if not candidates:
        raise ValueError("nothing to choose from")

    def style(c: dict) -> float:
        return c["style_similarity"] if c["style_similarity"] is not None else -math.inf

    passing = [c for c in candidates if c["f1"] >= threshold]
    if passing:
        return max(passing, key=lambda c: (style(c), c["f1"]))
    return max(candidates, key=lambda c: (c["f1"], style(c)))


def auto_balance(
    render_fn: RenderFn,
    score_fn: ScoreFn,
    params: RenderParams,
    grid: Sequence[Sequence[float]] = DEFAULT_GRID,
    probe_steps: int = 4,
    threshold: float = 0.3,
) -> tuple[float, float, dict]:
    """Probe every (control, style) pair of `grid`; return (control, style, report).

    `params` is a pydantic model (RenderParams) with control_strength, style_strength, steps and
    num_images; each probe gets a copy with the pair, `min(probe_steps, params.steps)` steps and
    one image. `report` = {"grid": [...], "chosen": {...}, "probe_steps", "threshold", "seconds"} (the
    recipe reads it as `schemas.BalanceReport`)."""
    # 1. Check inputs
    controls, styles = _check_grid(grid)
    if probe_steps < 1:
        raise ValueError(f"probe_steps must be >= 1, got {probe_steps}")
    steps = min(probe_steps, params.steps)
    t0 = time.perf_counter()
    # 2. Probe each pair at few steps
    probes = []
    for control in controls:
        for style in styles:
            update = {"control_strength": control, "style_strength": style, "steps": steps, "num_images": 1}
            images = render_fn(params.model_copy(update=update))
            f1, similarity = score_fn(images[0])
            probes.append({"control": control, "style": style, "f1": f1, "style_similarity": similarity})
    # 3. Choose
    best = choose(probes, threshold)
    chosen = {**best, "met_threshold": best["f1"] >= threshold}
    report = {
        "grid": probes,
        "chosen": chosen,
        "probe_steps": steps,
        "threshold": threshold,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return best["control"], best["style"], report


ProbeFn = Callable[[bool, int, int], Sequence[Image.Image]]  # (reference 1 is the sketch, styles, steps) -> images


def balance_references(
    render_fn: ProbeFn, score_fn: ScoreFn, styles: int, probe_steps: int, threshold: float = 0.3
) -> tuple[bool, int, dict]:
    """Auto-balance on a reference family (no strengths to vary): probe reference 1 as the sketch and
    as its control map, each with 0 to `styles` style references (best first), and choose by the same
    rule; return (reference 1 is the sketch, how many style references, report)."""
    t0 = time.perf_counter()
    probes = []
    for use_sketch in (True, False):
        for count in range(styles + 1):
            f1, similarity = score_fn(render_fn(use_sketch, count, probe_steps)[0])
            reference = "sketch" if use_sketch else "control"
            probes.append(
                {"reference_from": reference, "style_references": count, "f1": f1, "style_similarity": similarity}
            )
    best = choose(probes, threshold)
    report = {
        "grid": probes,
        "chosen": {**best, "met_threshold": best["f1"] >= threshold},
        "probe_steps": probe_steps,
        "threshold": threshold,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return best["reference_from"] == "sketch", best["style_references"], report
