"""Quality metrics on synthetic drawings with known answers, the scorer, and auto-balance's choice."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeEmbeddings
from PIL import Image, ImageDraw

from sketch2render.config import Settings
from sketch2render.render.balance import auto_balance, choose
from sketch2render.render.quality import (
    OVERPOWERED,
    QualityScorer,
    prompt_alignment,
    render_edges,
    scaled_tolerance,
    structure_fidelity,
    style_similarity,
)
from sketch2render.schemas import RenderParams, RenderRecipe, StyleHit, StyleRecord

# Four separate squares (relative coordinates: x0, y0, x1, y1), far from each other.
SQUARES = [(0.1, 0.1, 0.4, 0.4), (0.6, 0.1, 0.9, 0.4), (0.1, 0.6, 0.4, 0.9), (0.6, 0.6, 0.9, 0.9)]


def drawing(size: int = 512, boxes=SQUARES, shift=(0, 0), width: int | None = None) -> Image.Image:
    """Black outlines of `boxes` on white, scaled to `size`, optionally shifted by `shift` pixels."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    line = width or max(1, round(3 * size / 512))
    for x0, y0, x1, y1 in boxes:
        box = [x0 * size + shift[0], y0 * size + shift[1], x1 * size + shift[0], y1 * size + shift[1]]
        draw.rectangle(box, outline="black", width=line)
    return image


def edges_of(image: Image.Image) -> np.ndarray:
    return render_edges(image).astype(np.uint8) * 255


# ------------------------------------------------------------------------------ structure
def test_identical_edges_score_one_and_zero_chamfer():
    image = drawing()
    scores = structure_fidelity(edges_of(image), image)
    assert scores.precision == scores.recall == scores.f1 == 1.0
    assert scores.chamfer_px == 0.0 and scores.chamfer_norm == 0.0


def test_shift_beyond_tolerance_scores_near_zero():
    scores = structure_fidelity(edges_of(drawing()), drawing(shift=(12, 12)), tolerance_px=2)
    assert scores.f1 < 0.05
    assert scores.chamfer_px > 8


def test_shift_within_tolerance_scores_near_one():
    scores = structure_fidelity(edges_of(drawing()), drawing(shift=(1, 1)), tolerance_px=2)
    assert scores.f1 > 0.95


def test_erasing_half_the_lines_halves_recall_keeps_precision():
    scores = structure_fidelity(edges_of(drawing()), drawing(boxes=SQUARES[:2]))
    assert scores.recall == pytest.approx(0.5, abs=0.02)
    assert scores.precision == pytest.approx(1.0, abs=0.01)


def test_blank_render_scores_zero_without_raising():
    for colour in ("white", "black", (128, 128, 128)):
        scores = structure_fidelity(edges_of(drawing()), Image.new("RGB", (512, 512), colour))
        assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
        assert scores.chamfer_px is None and scores.chamfer_norm is None


def test_faint_noise_on_a_dark_render_is_not_edges():
    rng = np.random.default_rng(0)
    noise = np.clip(10 + rng.normal(0, 2, (256, 256, 3)), 0, 255).astype(np.uint8)
    assert not render_edges(Image.fromarray(noise)).any()


def test_scores_do_not_depend_on_render_size():
    # The render keeps two squares, shifts one far (beyond tolerance) and adds a new one.
    extra = (0.42, 0.42, 0.58, 0.58)
    moved = (0.62, 0.66, 0.92, 0.96)  # the last square, moved 6 % down and 2 % right
    render_boxes = [*SQUARES[:2], moved, extra]
    results = {}
    for size in (256, 512):
        sketch_edges = edges_of(drawing(size))
        results[size] = structure_fidelity(sketch_edges, drawing(size, boxes=render_boxes), tolerance_px=2)
    small, large = results[256], results[512]
    assert large.tolerance_px == 2 and small.tolerance_px == 1
    for key in ("precision", "recall", "f1"):
        assert getattr(small, key) == pytest.approx(getattr(large, key), abs=0.05), key
    assert small.chamfer_norm == pytest.approx(large.chamfer_norm, rel=0.15)
    assert 0.3 < large.f1 < 0.8  # a partial match, not a trivial 0 or 1


def test_sketch_edges_are_resized_to_the_render():
    sketch_edges = edges_of(drawing(512))
    scores = structure_fidelity(np.repeat(sketch_edges[:, :, None], 3, axis=2), drawing(256), tolerance_px=2)
    assert scores.f1 > 0.9


def test_tolerance_scales_from_512_and_never_below_one_pixel():
    assert scaled_tolerance(2, 1024, 768) == 4.0
    assert scaled_tolerance(2, 64, 48) == 1.0
    assert scaled_tolerance(0, 512, 512) == 0.0


# ------------------------------------------------------------------------- CLIP-based scores
def test_style_similarity_same_image_is_one_and_none_without_styles():
    clip = FakeEmbeddings()
    red, blue = Image.new("RGB", (32, 32), (220, 10, 10)), Image.new("RGB", (32, 32), (10, 10, 220))
    assert style_similarity(clip, red, [red]) == pytest.approx(1.0)
    assert style_similarity(clip, red, []) is None
    assert style_similarity(clip, red, [blue]) < 0.5
    mixed = style_similarity(clip, red, [red, blue], weights=[3, 1])
    assert style_similarity(clip, red, [blue]) < mixed < 1.0


def test_prompt_alignment_prefers_the_named_colour():
    clip = FakeEmbeddings()
    red = Image.new("RGB", (32, 32), (220, 10, 10))
    assert prompt_alignment(clip, "a red vase", red) > prompt_alignment(clip, "a blue vase", red)


# ----------------------------------------------------------------------------------- scorer
class FakeLibrary:
    def __init__(self, images: dict[str, Image.Image]):
        self.images = images
        self.loads = 0

    def load_image(self, style_id: str) -> Image.Image:
        self.loads += 1
        return self.images[style_id]


def hit(style_id: str, weight: float | None) -> StyleHit:
    record = StyleRecord(id=style_id, width=32, height=32, added_at=0.0, title=style_id)
    return StyleHit(style=record, score=1.0, weight=weight)


def score(scorer: QualityScorer, render: Image.Image, styles: list[StyleHit], library: FakeLibrary) -> list[dict]:
    """The scorer's metrics for one render of the known drawing, prompted "a red vase"."""
    reference = edges_of(drawing(128)) > 0  # the sketch's lines the render is compared with
    return scorer.score([render], reference, "a red vase", styles, library)


def test_scorer_fills_metrics_per_image_and_times_itself():
    red = Image.new("RGB", (32, 32), (220, 10, 10))
    library = FakeLibrary({"aa": red, "bb": Image.new("RGB", (32, 32), "blue")})
    scorer = QualityScorer(FakeEmbeddings(), Settings(structure_threshold=0.3, edge_tolerance_px=2))
    (scores,) = score(scorer, drawing(128), [hit("aa", 1.0), hit("bb", None)], library)  # bb retrieved, unused
    assert set(scores.model_dump()) == {"structure", "style_similarity", "prompt_alignment", "structure_warning"}
    assert set(scores.structure.model_dump()) == {
        "precision",
        "recall",
        "f1",
        "chamfer_px",
        "chamfer_norm",
        "tolerance_px",
    }
    assert scores.structure.f1 == 1.0 and scores.structure_warning is False
    assert scores.style_similarity is not None and isinstance(scores.prompt_alignment, float)
    assert library.loads == 1  # only the used style
    score(scorer, drawing(128), [hit("aa", 1.0)], library)
    assert library.loads == 1  # cached by id


def test_scorer_warns_when_the_geometry_is_lost():
    library = FakeLibrary({"aa": Image.new("RGB", (32, 32), "red")})
    scorer = QualityScorer(FakeEmbeddings(), Settings(structure_threshold=0.3))
    (styled,) = score(scorer, Image.new("RGB", (128, 128), "red"), [hit("aa", 1.0)], library)
    warning = styled.structure_warning
    assert isinstance(warning, str) and OVERPOWERED in warning
    (unstyled,) = score(scorer, Image.new("RGB", (128, 128), "red"), [], library)
    assert unstyled.style_similarity is None
    assert "raise control strength" in unstyled.structure_warning


def test_recipe_with_metrics_round_trips_through_json():
    scorer = QualityScorer(FakeEmbeddings(), Settings())
    metrics = score(scorer, Image.new("RGB", (128, 128), "white"), [], FakeLibrary({}))
    recipe = RenderRecipe(params=RenderParams(prompt="a red vase"), seed=1, width=128, height=128, scores=metrics)
    again = RenderRecipe.model_validate_json(recipe.model_dump_json())
    assert again.scores == recipe.scores


def test_a_recipe_stored_before_the_name_scores_loads_and_keeps_its_shape():
    """Recipes once called the scores `metrics` (and their time `timings.metrics`); older ones kept the
    structure F1 flat. They load as `scores`, and are written back with what they had."""
    old = {"params": {"prompt": "a red vase"}, "seed": 1, "width": 8, "height": 8, "timings": {"metrics": 0.5}}
    recipe = RenderRecipe.model_validate({**old, "metrics": [{"structure_f1": 0.5}, {"style_similarity": None}]})
    assert recipe.timings.scores == 0.5 and recipe.scores[0].model_extra == {"structure_f1": 0.5}
    assert recipe.model_dump(mode="json")["scores"] == [{"structure_f1": 0.5}, {"style_similarity": None}]
    assert "metrics" not in recipe.model_dump(mode="json") and recipe.speed.model_dump() == {}


# ------------------------------------------------------------------------------ auto-balance
TABLE = {  # (control, style) -> (f1, style similarity)
    (0.6, 0.4): (0.35, 0.60),
    (0.6, 0.7): (0.25, 0.80),  # the most style, but fails the threshold
    (0.6, 1.0): (0.10, 0.90),
    (1.0, 0.4): (0.50, 0.55),
    (1.0, 0.7): (0.40, 0.70),  # the best that passes
    (1.0, 1.0): (0.20, 0.85),
    (1.4, 0.4): (0.70, 0.50),
    (1.4, 0.7): (0.60, 0.65),
    (1.4, 1.0): (0.28, 0.75),
}


def fake_fns(table):
    seen = []

    def render_fn(params):
        seen.append(params)
        return [(params.control_strength, params.style_strength)]

    def score_fn(image):
        return table[image]

    return render_fn, score_fn, seen


def test_auto_balance_keeps_most_style_among_pairs_that_keep_the_geometry():
    render_fn, score_fn, seen = fake_fns(TABLE)
    params = RenderParams(prompt="x", steps=20, num_images=3, seed=7)
    control, style, report = auto_balance(render_fn, score_fn, params, probe_steps=4, threshold=0.3)
    assert (control, style) == (1.0, 0.7)
    assert len(seen) == 9 and {p.steps for p in seen} == {4} and {p.num_images for p in seen} == {1}
    assert {p.seed for p in seen} == {7}
    assert len(report["grid"]) == 9 and report["probe_steps"] == 4
    assert report["chosen"] == {"control": 1.0, "style": 0.7, "f1": 0.4, "style_similarity": 0.7, "met_threshold": True}


def test_auto_balance_falls_back_to_highest_f1_when_none_passes():
    render_fn, score_fn, _ = fake_fns(TABLE)
    control, style, report = auto_balance(render_fn, score_fn, RenderParams(prompt="x"), threshold=0.9)
    assert (control, style) == (1.4, 0.4) and report["chosen"]["met_threshold"] is False


def test_auto_balance_without_style_picks_highest_f1_and_caps_steps():
    table = {k: (v[0], None) for k, v in TABLE.items()}
    render_fn, score_fn, seen = fake_fns(table)
    control, style, report = auto_balance(render_fn, score_fn, RenderParams(prompt="x", steps=2), threshold=0.3)
    assert (control, style) == (1.4, 0.4)
    assert report["probe_steps"] == 2 and {p.steps for p in seen} == {2}


def test_choose_and_grid_validation():
    assert choose([{"f1": 0.5, "style_similarity": 0.2}], 0.3)["f1"] == 0.5
    with pytest.raises(ValueError):
        auto_balance(lambda p: [], lambda i: (0, 0), RenderParams(prompt="x"), grid=((), (0.5,)))
    with pytest.raises(ValueError):
        auto_balance(lambda p: [], lambda i: (0, 0), RenderParams(prompt="x"), grid=((3.0,), (0.5,)))
