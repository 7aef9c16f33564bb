"""Quality metrics at their edges (render/quality.py) with known answers: structure scores against a
brute-force reference, the tolerance's scaling, mask resizing, exact cosines and weighted means,
and the scorer's warning text - written against the mutants that survived (docs/mutation.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2render.config import Settings
from sketch2render.render.quality import (
    OVERPOWERED,
    UNFOLLOWED,
    QualityScorer,
    prompt_alignment,
    render_edges,
    scaled_tolerance,
    structure_fidelity,
    style_similarity,
)
from sketch2render.schemas import StyleHit, StyleRecord
from sketch2render.sketch import imaging


class KnownClip:
    """Unit vectors by image colour (red, green, blue) and by the colour word in a prompt."""

    AXES = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}

    def __init__(self) -> None:
        self.embedded = 0

    def embed_pil(self, images):
        self.embedded += len(images)
        out = []
        for image in images:
            v = np.asarray(image.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
            out.append(list(v / np.linalg.norm(v)))
        return out

    def embed_query(self, text: str):
        return next(list(v) for word, v in self.AXES.items() if word in text)


RED, GREEN, BLUE = (Image.new("RGB", (8, 8), c) for c in ("red", "lime", "blue"))
PURPLE = Image.new("RGB", (8, 8), (255, 0, 255))  # (1, 0, 1) / sqrt 2


def lines(size: int, boxes, shift: int = 0) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0 + shift, y0 + shift, x1 + shift, y1 + shift], outline="black", width=2)
    return image


def brute_force(sketch: np.ndarray, rendered: np.ndarray, tol: float) -> dict:
    """Precision, recall, F1 and Chamfer from all pairwise distances (the definition)."""
    s = np.argwhere(sketch).astype(float)
    r = np.argwhere(rendered).astype(float)
    d = np.sqrt(((r[:, None, :] - s[None, :, :]) ** 2).sum(axis=2))
    to_sketch, to_render = d.min(axis=1), d.min(axis=0)
    precision, recall = float(np.mean(to_sketch <= tol)), float(np.mean(to_render <= tol))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    chamfer = (to_sketch.mean() + to_render.mean()) / 2
    return {"precision": precision, "recall": recall, "f1": f1, "chamfer_px": chamfer}


@pytest.mark.parametrize(("shift", "tolerance"), [(0, 2), (3, 2), (3, 6), (6, 2), (2, 0)])
def test_structure_scores_equal_the_brute_force_definition(shift, tolerance):
    sketch_image = lines(64, [(8, 8, 30, 30), (36, 10, 56, 50)])
    render = lines(64, [(8, 8, 30, 30), (36, 10, 56, 40)], shift=shift)  # one box shorter, both moved
    sketch = render_edges(sketch_image)
    scores = structure_fidelity(sketch.astype(np.uint8) * 255, render, tolerance_px=tolerance)
    tol = scaled_tolerance(tolerance, 64, 64)
    expected = brute_force(sketch, render_edges(render), tol)
    assert scores.tolerance_px == round(tol, 3)
    for key in ("precision", "recall", "f1"):
        assert getattr(scores, key) == round(expected[key], 4)
    assert scores.chamfer_px == pytest.approx(expected["chamfer_px"], abs=6e-4)
    assert scores.chamfer_norm == pytest.approx(expected["chamfer_px"] / np.hypot(64, 64), abs=1e-5)


def test_a_blank_render_or_sketch_scores_exactly_zero_and_no_chamfer():
    blank = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "chamfer_px": None, "chamfer_norm": None}
    sketch = render_edges(lines(64, [(8, 8, 30, 30)]))
    assert structure_fidelity(sketch, Image.new("RGB", (64, 64), "white")).model_dump() == {
        **blank,
        "tolerance_px": 1.0,
    }
    no_lines = np.zeros((64, 64), np.uint8)
    assert structure_fidelity(no_lines, lines(64, [(8, 8, 30, 30)]), 4).model_dump() == {**blank, "tolerance_px": 1.0}


def test_far_apart_edges_have_zero_f1_and_a_chamfer_distance():
    sketch = np.zeros((64, 64), np.uint8)
    sketch[5, 5:10] = 255
    scores = structure_fidelity(sketch, lines(64, [(40, 40, 60, 60)]), 2)
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
    assert scores.chamfer_px > 40


def test_sketch_edges_may_have_channels_but_not_one_or_four_axes():
    sketch = render_edges(lines(64, [(8, 8, 30, 30)])).astype(np.uint8) * 255
    render = lines(64, [(8, 8, 30, 30)])
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 1] = sketch  # an edge in any channel counts
    assert structure_fidelity(rgb, render).f1 == structure_fidelity(sketch, render).f1 == 1.0
    for shape in ((64,), (1, 64, 64, 1)):
        with pytest.raises(ValueError) as caught:
            structure_fidelity(np.zeros(shape), render)
        assert str(caught.value) == f"sketch edges must be HxW or HxWxC, got shape {shape}"


def test_sketch_edges_are_area_shrunk_so_thin_lines_survive_and_grown_by_nearest():
    render = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(render).line([(0, 32), (63, 32)], fill="black", width=3)
    big = np.zeros((128, 128), np.uint8)
    big[65, :] = 255  # one odd row: nearest-neighbour shrinking would drop it
    assert structure_fidelity(big, render, 2).recall == 1.0
    small = np.zeros((32, 32), np.uint8)
    small[16, :] = 1  # any non-zero value is an edge
    grown = structure_fidelity(small, render, 0)
    assert grown.recall > 0 and grown.tolerance_px == 0.0


@pytest.mark.parametrize(
    ("args", "expected"),
    [((2, 512, 512), 2.0), ((2, 1024, 512), 4.0), ((2, 512, 1024), 4.0), ((3, 256, 256), 1.5), ((1, 300, 10), 1.0)],
)
def test_the_tolerance_scales_with_the_longest_side(args, expected):
    assert scaled_tolerance(*args) == expected


def test_a_negative_tolerance_is_refused_by_value():
    with pytest.raises(ValueError) as caught:
        scaled_tolerance(-0.5, 64, 64)
    assert str(caught.value) == "tolerance_px must be >= 0, got -0.5"


def test_render_edges_have_floors_so_a_dark_render_is_not_all_noise():
    dark = np.full((64, 64), 8, np.uint8)
    dark[::2, ::2] = 22  # a faint 14-level pattern: below the floor of 15/30
    image = Image.fromarray(dark).convert("RGB")
    assert not render_edges(image).any()
    drawn = lines(64, [(8, 8, 30, 30)])
    expected = imaging.detect_edges(drawn, low=15, high=30).edges > 0  # auto thresholds would be higher
    assert render_edges(drawn).dtype == bool and render_edges(drawn).sum() > 0
    assert render_edges(drawn).sum() <= expected.sum()


def test_style_similarity_is_the_exact_cosine_and_weights_blend_it():
    clip = KnownClip()
    assert style_similarity(clip, RED, [RED]) == pytest.approx(1.0)
    assert style_similarity(clip, RED, [GREEN]) == pytest.approx(0.0)
    assert style_similarity(clip, RED, [PURPLE]) == pytest.approx(2**-0.5)
    assert style_similarity(clip, RED, [RED, GREEN]) == pytest.approx(0.5)
    assert style_similarity(clip, RED, [RED, GREEN], weights=[3, 1]) == pytest.approx(0.75)
    assert style_similarity(clip, RED, [RED, GREEN], weights=[0, 0]) == pytest.approx(0.5)  # no weight: the mean
    assert style_similarity(clip, RED, [RED, GREEN], weights=[1, -1]) == pytest.approx(0.5)
    assert style_similarity(clip, RED, []) is None and clip.embedded == 18


def test_prompt_alignment_is_the_text_image_cosine():
    clip = KnownClip()
    assert prompt_alignment(clip, "a red vase", RED) == pytest.approx(1.0)
    assert prompt_alignment(clip, "a blue vase", RED) == pytest.approx(0.0)
    assert prompt_alignment(clip, "a blue vase", PURPLE) == pytest.approx(2**-0.5)


def used(style_id: str, weight: float | None) -> StyleHit:
    record = StyleRecord(id=style_id, width=8, height=8, added_at=0.0, title=style_id)
    return StyleHit(style=record, score=1.0, weight=weight)


class Library:
    def __init__(self) -> None:
        self.images = {"r": RED, "g": GREEN, "b": BLUE}
        self.loads: list[str] = []

    def load_image(self, style_id: str) -> Image.Image:
        self.loads.append(style_id)
        return self.images[style_id]


def test_the_scorer_rounds_weights_and_names_the_threshold_in_its_warning():
    scorer = QualityScorer(KnownClip(), Settings(structure_threshold=0.35, edge_tolerance_px=2))
    sketch = np.zeros((64, 64), np.uint8)  # no lines: F1 is 0
    (metrics,) = scorer.score([PURPLE.resize((64, 64))], sketch, "green", [used("r", 0.25), used("b", 0.75)], Library())
    assert metrics.style_similarity == round(2**-0.5, 4)  # both cosines are 1/sqrt 2
    assert metrics.prompt_alignment == 0.0
    assert metrics.structure_warning == f"structure F1 0.00 is below 0.35: {OVERPOWERED}"
    (plain,) = scorer.score([RED.resize((64, 64))], sketch, "red", [used("r", None)], Library())
    assert plain.style_similarity is None and plain.prompt_alignment == 1.0
    assert plain.structure_warning == f"structure F1 0.00 is below 0.35: {UNFOLLOWED}"


def test_the_warning_starts_exactly_at_the_threshold():
    scorer = QualityScorer(KnownClip(), Settings(structure_threshold=0.5))
    assert scorer.warning(0.5, styled=True) is False
    assert scorer.warning(0.49, styled=False) == f"structure F1 0.49 is below 0.50: {UNFOLLOWED}"


def test_probe_scores_use_the_weights_and_embed_each_style_once():
    clip = KnownClip()
    scorer = QualityScorer(clip, Settings(structure_threshold=0.3), cache_size=4)
    library = Library()
    image = lines(64, [(8, 8, 30, 30)])
    sketch = render_edges(image)
    f1, similarity = scorer.probe_score(sketch, RED.resize((64, 64)), ["r", "g"], [1.0, 3.0], library)
    assert (f1, similarity) == (0.0, 0.25)
    f1, similarity = scorer.probe_score(sketch, image, ["r"], [1.0], library)
    assert f1 == 1.0 and similarity == round(1 / 3**0.5, 4)  # white against red
    assert library.loads == ["r", "g"]


def test_weights_summing_to_one_are_a_weighted_mean_not_a_plain_one():
    assert style_similarity(KnownClip(), RED, [RED, GREEN], weights=[0.75, 0.25]) == pytest.approx(0.75)
    assert style_similarity(KnownClip(), RED, [RED, GREEN], weights=[0.5, 0.3]) == pytest.approx(0.625)


def test_the_scorer_uses_its_tolerance_the_blend_weights_and_four_decimals():
    scorer = QualityScorer(KnownClip(), Settings(structure_threshold=0.3, edge_tolerance_px=6))
    sketch_image = lines(512, [(60, 60, 300, 300)])
    render = lines(512, [(60, 60, 300, 300)], shift=4)  # within 6 px, not within 2
    sketch = render_edges(sketch_image)
    (metrics,) = scorer.score([render], sketch, "a red vase", [used("r", 0.25), used("g", 0.75)], Library())
    assert metrics.structure == structure_fidelity(sketch, render, 6) != structure_fidelity(sketch, render, 2)
    white = 1 / 3**0.5  # white against red, and against green
    assert metrics.style_similarity == round(white, 4)
    (red,) = scorer.score([RED.resize((64, 64))], sketch, "red", [used("r", 0.25), used("g", 0.75)], Library())
    assert red.style_similarity == 0.25  # 0.25 x 1 + 0.75 x 0, not the plain mean 0.5
    (purple,) = scorer.score([PURPLE.resize((64, 64))], sketch, "red", [], Library())
    assert purple.prompt_alignment == 0.7071


def test_scores_are_rounded_for_the_recipe():
    sketch = render_edges(lines(300, [(40, 40, 200, 200), (220, 30, 280, 250)]))
    scores = structure_fidelity(sketch, lines(300, [(43, 41, 200, 200), (220, 30, 280, 180)], shift=1))
    assert scores.tolerance_px == 1.172  # 2 px at 512 is 1.171875 px at 300
    digits = {"precision": 4, "recall": 4, "f1": 4, "chamfer_px": 3, "chamfer_norm": 5}
    assert all(getattr(scores, k) == round(getattr(scores, k), d) for k, d in digits.items())
    assert any(
        getattr(scores, k) != round(getattr(scores, k), d - 1) for k, d in digits.items()
    )  # each keeps its digits
    assert scores == structure_fidelity(sketch, lines(300, [(43, 41, 200, 200), (220, 30, 280, 180)], shift=1), 2)


def test_the_default_tolerance_is_2_px_at_512():
    sketch = render_edges(lines(512, [(60, 60, 300, 300)]))
    render = lines(512, [(60, 60, 300, 300)], shift=3)
    assert structure_fidelity(sketch, render) == structure_fidelity(sketch, render, 2)
    assert structure_fidelity(sketch, render) != structure_fidelity(sketch, render, 3)


def test_render_edges_are_canny_with_floors_of_15_and_30():
    rng = np.random.default_rng(0)
    dark = np.full((64, 64), 10, np.int16)
    cv2.rectangle(dark, (10, 10), (50, 50), 60, 2)
    dark = np.clip(dark + rng.integers(-6, 6, dark.shape), 0, 255).astype(np.uint8)  # a noisy dark render
    image = Image.fromarray(dark).convert("RGB")
    blurred = imaging.blurred_gray(image)
    assert imaging.auto_thresholds(blurred) == (6, 13)  # what the median alone would give
    found = render_edges(image)
    assert np.array_equal(found, cv2.Canny(blurred, 15, 30) > 0)
    for low, high in ((6, 30), (0, 30), (15, 13)):
        assert not np.array_equal(found, cv2.Canny(blurred, low, high) > 0)


@pytest.mark.parametrize(("shape", "size"), [((24, 24), (64, 64)), ((32, 128), (64, 64)), ((40, 30), (64, 48))])
def test_sketch_edges_are_grown_or_equal_area_reshaped_by_nearest_neighbour(shape, size):
    rng = np.random.default_rng(5)
    sketch = (rng.random(shape) > 0.8).astype(np.uint8) * 255
    render = Image.new("RGB", size, "white")
    ImageDraw.Draw(render).rectangle([4, 4, size[0] - 5, size[1] - 5], outline="black", width=2)
    rendered = render_edges(render)
    grown = cv2.resize(sketch, size, interpolation=cv2.INTER_NEAREST) > 0
    expected = brute_force(grown, rendered, scaled_tolerance(2, *size))
    assert structure_fidelity(sketch, render).recall == round(expected["recall"], 4)
