"""Painted colours to region masks (no browser): each palette colour a mask of the sketch's size."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sketch2render.ui.regions import PALETTE, masks_from_paint


def test_each_painted_colour_becomes_a_mask_of_the_sketch_size():
    canvas = np.zeros((40, 80, 4), dtype=np.uint8)  # transparent: nothing painted
    canvas[:, :20] = (*PALETTE["Red"], 255)
    canvas[:, 60:] = (*[c - 10 for c in PALETTE["Blue"]], 255)  # anti-aliased shade: still blue
    canvas[0, 40] = (*PALETTE["Green"], 255)  # one stray pixel is no region
    masks = masks_from_paint(canvas, (160, 80))
    assert set(masks) == {"Red", "Blue"}
    red = np.asarray(Image.open(io.BytesIO(masks["Red"])))
    blue = np.asarray(Image.open(io.BytesIO(masks["Blue"])))
    assert red.shape == blue.shape == (80, 160)
    assert red[:, :40].all() and not red[:, 40:].any()
    assert blue[:, 120:].all() and not blue[:, :120].any()
