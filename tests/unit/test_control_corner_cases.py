"""Control maps pinned to known answers (sketch/control.py), written against the mutants that survived
the behavioural tests in test_control.py (docs/mutation.md): every constant of the maps (target
widths at size/200, /170, /256, the blur, the simplify window) changes these outputs, so each map
of three fixed drawings is pinned by its digest, `measure` by its exact numbers, `choose` at its
exact thresholds. A deliberate change to a map updates the digests here (print them with
`python tests/unit/test_control_corner_cases.py`) and says why in the commit."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2render.errors import NoEdges
from sketch2render.sketch import control, imaging


def drawing(size: int, width: int, *, hatch: bool = True, chalk: bool = False) -> Image.Image:
    """An ellipse, a long grey stroke and (optionally) hatching, drawn 2x and box-reduced."""
    s = size * 2
    big = Image.new("L", (s, s), 255)
    draw = ImageDraw.Draw(big)
    draw.ellipse([s * 0.1, s * 0.1, s * 0.6, s * 0.6], outline=0, width=width * 2)
    draw.line([(s * 0.05, s * 0.9), (s * 0.95, s * 0.7)], fill=40, width=width * 2)
    if hatch:
        for i in range(0, int(s * 0.3), max(6, s // 60)):
            draw.line([(s * 0.65 + i, s * 0.1), (s * 0.65 + i - s * 0.1, s * 0.4)], fill=60, width=2)
    image = big.resize((size, size), Image.Resampling.BOX)
    return (Image.eval(image, lambda v: 255 - v) if chalk else image).convert("RGB")


DRAWINGS = {
    "pen160": lambda: drawing(160, 1),
    "marker600": lambda: drawing(600, 9, hatch=False),  # thick strokes: lineart thins them
    "hatched600": lambda: drawing(600, 2),
    "chalk200": lambda: drawing(200, 3, chalk=True),  # light on dark: inverted first
}

MAPS = {  # drawing -> {variant: digest of the map}
    "pen160": {
        "lineart": "6a4a0a7d048468fc",
        "scribble": "426211e6b0022d69",
        "softedge": "1a520353c0f16f4b",
        "canny+simplify0.5": "7acb053032cbf7c6",
        "lineart+simplify1": "643977f9aa9d92e3",
    },
    "marker600": {
        "lineart": "001e103e7a7fdadb",
        "scribble": "34adc5254db6a246",
        "softedge": "9c1d9b20fd81d53e",
        "canny+simplify0.5": "925252deff7cbc4a",
        "lineart+simplify1": "6febc2df73e84cd7",
    },
    "hatched600": {
        "lineart": "b14ba471470c0719",
        "scribble": "bc5d76026f8fc2eb",
        "softedge": "fcc6a16664ebc7a6",
        "canny+simplify0.5": "1c7ac238f567a292",
        "lineart+simplify1": "c699bd3c5069b33b",
    },
    "chalk200": {
        "lineart": "eb0483b1b9b74ed7",
        "scribble": "cfe6571c7b77336d",
        "softedge": "ef5bbe52bdc2a743",
        "canny+simplify0.5": "3db5e8ff0b499825",
        "lineart+simplify1": "fe0f0f34cb4628d2",
    },
}

VARIANTS = {
    "lineart": {"kind": "lineart"},
    "scribble": {"kind": "scribble"},
    "softedge": {"kind": "softedge"},
    "canny+simplify0.5": {"kind": "canny", "simplify_strength": 0.5},
    "lineart+simplify1": {"kind": "lineart", "simplify_strength": 1.0},
}


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def built(name: str, variant: str) -> control.ControlMap:
    return control.control_map(DRAWINGS[name](), **VARIANTS[variant])


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_each_map_of_each_drawing_is_the_pinned_one(name):
    found = {variant: digest(built(name, variant).image) for variant in VARIANTS}
    assert found == MAPS[name]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pen160", {"paper": 0.9286, "hatched": 0.095, "stroke_width": 0.01194, "ink": 0.05672}),
        ("marker600", {"paper": 0.9613, "hatched": 0.0001, "stroke_width": 0.0155, "ink": 0.03643}),
        ("hatched600", {"paper": 0.975, "hatched": 0.0013, "stroke_width": 0.00318, "ink": 0.02072}),
    ],
)
def test_measure_gives_the_pinned_numbers(name, expected):
    assert control.measure(DRAWINGS[name]()) == expected


def test_a_blank_page_measures_no_ink_and_no_hatching():
    assert control.measure(Image.new("RGB", (64, 64), "white")) == {
        "paper": 1.0,
        "hatched": 0.0,
        "stroke_width": 0.0,
        "ink": 0.0,
    }


@pytest.mark.parametrize(
    ("measures", "expected"),
    [
        ({"paper": 0.40, "hatched": 0.0, "stroke_width": 0.0}, "lineart"),  # exactly at each threshold: not over
        ({"paper": 0.3999, "hatched": 0.0, "stroke_width": 0.0}, "canny"),
        ({"paper": 0.9, "hatched": 0.09, "stroke_width": 0.0}, "lineart"),
        ({"paper": 0.9, "hatched": 0.0901, "stroke_width": 0.0}, "softedge"),
        ({"paper": 0.9, "hatched": 0.0, "stroke_width": 1 / 90}, "lineart"),
        ({"paper": 0.9, "hatched": 0.0, "stroke_width": 0.0112}, "scribble"),
        ({"paper": 0.1, "hatched": 0.5, "stroke_width": 0.5}, "canny"),  # photo-like comes first
        ({"paper": 0.9, "hatched": 0.5, "stroke_width": 0.5}, "softedge"),  # then hatching
    ],
)
def test_choose_at_its_exact_thresholds(measures, expected):
    assert control.choose(measures) == expected


def bar(width: int) -> np.ndarray:
    mask = np.zeros((40, 60), bool)
    mask[10 : 10 + width, 5:55] = True
    return mask


@pytest.mark.parametrize(("width", "expected"), [(1, 1.91), (3, 3.82), (5, 5.73), (9, 9.55)])
def test_stroke_width_of_a_straight_bar(width, expected):
    # OpenCV's 3x3 L2 distance steps by 0.955 px; twice the median along the centre line
    assert control.stroke_width(bar(width)) == pytest.approx(expected, abs=0.005)


def test_stroke_width_of_nothing_is_zero():
    assert control.stroke_width(np.zeros((8, 8), bool)) == 0.0


def test_the_skeleton_is_what_each_erosion_by_a_cross_leaves():
    centre = control.skeleton(bar(5))
    assert centre.sum() == 54 and centre[12].sum() == 46  # the middle row and the corners' diagonals
    assert control.skeleton(bar(1)).sum() == 50  # a one-pixel line is its own skeleton
    disc = np.zeros((21, 21), np.uint8)
    cv2.circle(disc, (10, 10), 7, 1, -1)
    assert sorted(map(tuple, np.argwhere(control.skeleton(disc.astype(bool))).tolist())) == [
        (7, 7),
        (7, 13),
        (8, 8),
        (8, 12),
        (10, 10),
        (12, 8),
        (12, 12),
        (13, 7),
        (13, 13),
    ]


def test_the_summary_records_the_request_the_choice_and_the_fallback():
    image = drawing(160, 1)
    chosen = control.control_map(image, "auto", available=("canny", "lineart"))
    assert chosen.kind == "canny"
    assert chosen.summary["requested"] == "auto" and chosen.summary["type"] == "canny"
    assert chosen.summary["fallback"] == "auto chose softedge, but no softedge ControlNet is loaded here: canny instead"
    assert chosen.summary["measures"] == control.measure(image)
    direct = control.control_map(image, "auto")
    assert direct.kind == "softedge" and "fallback" not in direct.summary and direct.summary["simplify"] == 0.0
    assert not direct.image.flags.writeable
    assert direct.summary["line_fraction"] == round(float(np.mean(direct.image > 127)), 6)
    assert np.array_equal(direct.reference, control.strokes(control.ink(image)))


def test_almost_blank_paper_has_no_strokes_and_says_so():
    speck = Image.new("RGB", (100, 100), "white")
    ImageDraw.Draw(speck).point((50, 50), fill="black")  # 1 of 10 000 pixels: under 0.0005
    with pytest.raises(NoEdges) as caught:
        control.control_map(speck, "lineart")
    assert caught.value.message == "no strokes found in the sketch; is it blank?"


if __name__ == "__main__":  # print the digests after a deliberate change to a map
    for name in DRAWINGS:
        print(name, {variant: digest(built(name, variant).image) for variant in VARIANTS})


def test_canny_is_the_default_and_passes_the_thresholds_through():
    image = drawing(160, 1)
    plain = control.control_map(image)
    assert plain.kind == "canny" and plain.summary["requested"] == "canny"
    assert np.array_equal(plain.image, imaging.detect_edges(image).edges)  # no simplify: the sketch itself
    assert np.array_equal(plain.reference, plain.image > 0) and 0 < plain.reference.mean() < 0.2
    tuned = control.control_map(image, "canny", canny_low=50, canny_high=120)
    assert (tuned.summary["low"], tuned.summary["high"]) == (50, 120)
    assert np.array_equal(tuned.image, imaging.detect_edges(image, low=50, high=120).edges)


def grey_image(values: dict[int, int], size: int = 100) -> Image.Image:
    """A size×size grey image holding `count` isolated pixels of each grey `value` on white."""
    canvas = np.full((size, size), 255, np.uint8)
    spots = iter((y, x) for y in range(2, size, 4) for x in range(2, size, 4))
    for value, count in values.items():
        for _ in range(count):
            canvas[next(spots)] = value
    return Image.fromarray(canvas).convert("RGB")


def test_ink_is_darkness_over_the_99th_percentile_of_the_marks_and_at_least_32():
    image = grey_image({247: 50, 246: 50, 155: 100, 0: 1})  # darkness 8, 9, 100 and 255 on white paper
    amount = control.ink(image)
    gray = np.asarray(image.convert("L"))
    assert {int(v): round(float(amount[gray == v][0]), 4) for v in (247, 246, 155, 0)} == {
        247: 0.08,
        246: 0.09,
        155: 1.0,
        0: 1.0,
    }
    faint = control.ink(grey_image({239: 20}))  # darkness 16 only: over the floor of 32
    assert float(faint.max()) == 0.5


def test_paper_is_the_share_within_25_of_the_95th_percentile_tone():
    pixels = np.array([255] * 50 + [230] * 20 + [229] * 20 + [0] * 10, np.uint8).reshape(10, 10)
    assert control.measure(Image.fromarray(pixels).convert("RGB"))["paper"] == 0.7
    pixels = np.array([200] * 955 + [255] * 45, np.uint8).reshape(20, 50)
    assert control.measure(Image.fromarray(pixels).convert("RGB"))["paper"] == 1.0
