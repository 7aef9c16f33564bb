"""Control images from the sketch, with known answers on synthetic drawings: a stroke is one ridge
under lineart and two edges under canny; simplify removes hatching and keeps the outline; auto
tells a clean drawing, a hatched one and a photo-like image apart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2render.errors import NoEdges
from sketch2render.sketch import control

SIZE = 256


def paper() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    return image, ImageDraw.Draw(image)


def one_stroke(width: int = 3) -> Image.Image:
    """A vertical pen line, drawn 4x larger and reduced: anti-aliased, as scanned ink is."""
    big = Image.new("RGB", (SIZE * 4, SIZE * 4), "white")
    x = SIZE * 2 + 1
    ImageDraw.Draw(big).line([(x, 80), (x, SIZE * 4 - 80)], fill="black", width=width * 4)
    return big.resize((SIZE, SIZE), Image.Resampling.BOX)


def runs(row: np.ndarray, threshold: int = 127) -> int:
    """How many separate runs of bright pixels a scan line crosses."""
    on = (row > threshold).astype(np.int8)
    return int(np.count_nonzero(np.diff(np.concatenate([[0], on, [0]])) == 1))


def hatched_square(outline: int = 3, spacing: int = 4) -> Image.Image:
    image, draw = paper()
    a, b = 60, SIZE - 60
    for x in range(a + 6, b - 4, spacing):  # fine vertical hatching inside
        draw.line([(x, a + 6), (x, b - 6)], fill="black", width=1)
    draw.rectangle([a, a, b, b], outline="black", width=outline)
    return image


def clean_drawing() -> Image.Image:
    image, draw = paper()
    draw.ellipse([40, 40, 200, 200], outline="black", width=2)
    draw.line([(30, 220), (230, 220)], fill="black", width=2)
    draw.polygon([(90, 90), (160, 100), (120, 160)], outline="black", width=2)
    return image


def photo_like() -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    base = 90 + 60 * np.sin(x / 23.0) + 40 * np.cos(y / 17.0) + rng.normal(0, 12, (SIZE, SIZE))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).convert("RGB")


def test_a_stroke_is_one_ridge_under_lineart_and_two_edges_under_canny():
    sketch = one_stroke(3)
    line = control.control_map(sketch, "lineart").image
    edges = control.control_map(sketch, "canny").image
    row = SIZE // 2
    assert runs(line[row]) == 1
    assert runs(edges[row]) == 2


def test_lineart_keeps_anti_aliasing_and_thins_thick_strokes_to_the_target_width():
    fine = control.control_map(one_stroke(2), "lineart").image
    assert len(np.unique(fine)) > 2  # grey levels survive (anti-aliasing, not a hard threshold)
    thick = control.control_map(one_stroke(14), "lineart").image[SIZE // 2]
    assert runs(thick) == 1 and np.count_nonzero(thick > 127) <= 5  # ~size/200 wide, not 14 px


def test_scribble_is_thick_and_binary_softedge_is_soft():
    scribble = control.control_map(one_stroke(2), "scribble").image
    assert set(np.unique(scribble)) <= {0, 255} and np.count_nonzero(scribble[SIZE // 2] == 255) >= 3
    soft = control.control_map(one_stroke(2), "softedge").image[SIZE // 2]
    assert runs(soft, 10) == 1 and np.count_nonzero((soft > 10) & (soft < 245)) >= 4  # one ridge, gradual sides


def test_simplify_keeps_the_outline_of_a_hatched_square_and_drops_most_hatching():
    square = hatched_square()
    plain = control.control_map(square, "lineart").image > 127
    simple = control.control_map(square, "lineart", simplify_strength=1.0).image > 127
    inside = np.zeros_like(plain)
    inside[70 : SIZE - 70, 70 : SIZE - 70] = True
    border = np.zeros_like(plain)
    border[58:63, 60 : SIZE - 60] = True  # the top side of the outline
    assert simple[inside].sum() < 0.2 * plain[inside].sum()  # most hatching gone
    assert simple[border].any(axis=0).mean() > 0.95  # the outline stays, all along


def test_auto_picks_lineart_for_a_clean_drawing_canny_for_a_photo_and_softedge_for_hatching():
    assert control.control_map(clean_drawing(), "auto").kind == "lineart"
    assert control.control_map(photo_like(), "auto").kind == "canny"
    hatched = control.control_map(hatched_square(), "auto")
    assert hatched.kind == "softedge"
    assert hatched.summary["requested"] == "auto" and set(hatched.summary["measures"]) == {
        "paper", "hatched", "stroke_width", "ink"
    }  # fmt: skip


def test_every_type_gives_a_reference_mask_and_refuses_a_blank_sketch():
    for kind in control.CONTROL_TYPES:
        built = control.control_map(clean_drawing(), kind)
        assert built.kind == kind and built.image.shape == (SIZE, SIZE) and built.reference.any()
        assert built.control_image().mode == "RGB"
        with pytest.raises(NoEdges):
            control.control_map(Image.new("RGB", (SIZE, SIZE), "white"), kind)


def test_canny_is_the_seeds_behaviour():
    from sketch2render.sketch import imaging

    sketch = clean_drawing()
    assert np.array_equal(control.control_map(sketch, "canny").image, imaging.detect_edges(sketch).edges)
