"""Decode once: the POST's resized sketch and control map handed to the worker give the same render
input as decoding the stored bytes (jobs/decoded_sketches.py, sketch/prepare.py, render/pipeline.prepare)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from sketch2render.config import Settings
from sketch2render.jobs.decoded_sketches import DecodedSketches
from sketch2render.render.pipeline import prepare
from sketch2render.render.stages import RenderRequest
from sketch2render.schemas import RenderParams
from sketch2render.sketch import imaging
from sketch2render.sketch.control import CONTROL_TYPES, control_map
from sketch2render.sketch.prepare import prepare_sketch


def _sketch(fmt: str, side: int = 1024) -> bytes:
    image = Image.new("RGB", (side, side * 3 // 4), "white")
    draw = ImageDraw.Draw(image)
    for i in range(8):
        draw.line((10 + 60 * i, 20, side - 40 * i, side // 2), fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=90)
    return buffer.getvalue()


def test_the_posts_resized_sketch_prepares_exactly_like_the_stored_bytes():
    settings = Settings()
    for fmt in ("PNG", "JPEG"):  # JPEG: the reduced-scale decode must match too
        data = _sketch(fmt)
        params = RenderParams(prompt="x", size=256, steps=1)
        from_bytes = prepare(RenderRequest(data, params), settings=settings)
        posted = prepare_sketch(data, params, settings.limits, available=CONTROL_TYPES)  # as the POST checks it
        checked = posted.control
        handed = prepare(RenderRequest(posted.image, params, control=checked), settings=settings)
        assert np.array_equal(np.asarray(handed.sketch), np.asarray(from_bytes.sketch)), fmt
        assert np.array_equal(np.asarray(handed.control), np.asarray(from_bytes.control)), fmt
        assert handed.control_map is checked and handed.control_map.summary == from_bytes.control_map.summary
        assert handed.decode_s < from_bytes.decode_s


def test_a_handed_control_map_is_used_as_is_and_only_with_an_image():
    """prepare takes the POST's control map instead of finding the lines again; with bytes (a
    stored input) it builds its own, since the map belongs to the image it was built from."""
    settings = Settings()
    data = _sketch("PNG", side=256)
    params = RenderParams(prompt="x", size=128, steps=1)
    image = imaging.resize_for_generation(imaging.decode_upload(data, settings.limits, at_least=128), 128)
    other = control_map(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))  # not this sketch's lines
    handed = prepare(RenderRequest(image, params, control=other), settings=settings)
    assert handed.control_map is other and np.array_equal(np.asarray(handed.control), np.asarray(other.control_image()))
    from_bytes = prepare(RenderRequest(data, params, control=other), settings=settings)
    own = control_map(image)
    assert from_bytes.control_map is not other and np.array_equal(from_bytes.control_map.image, own.image)


def test_handed_over_once_and_bounded_by_pixels():
    sketches = DecodedSketches(max_pixels=3 * 64 * 64)
    tiles = {
        name: Image.new("RGB", (64, 64), colour)
        for name, colour in zip("abcd", ("red", "green", "blue", "gray"), strict=True)
    }
    for name, tile in tiles.items():
        sketches.put(name, tile)
    assert len(sketches) == 3 and sketches.take("a") is None  # the oldest made room for "d"
    taken = sketches.take("b")
    assert taken is not None and taken.image is tiles["b"] and taken.control is None
    assert sketches.take("b") is None  # once
    sketches.put("huge", Image.new("RGB", (256, 256)))  # larger than the whole bound: not kept
    assert sketches.take("huge") is None and len(sketches) == 2


def test_with_caches_off_nothing_is_handed_over():
    sketches = DecodedSketches(enabled=False)  # S2R_CACHES=off (api/runtime.py)
    sketches.put("hash", Image.new("RGB", (64, 64)))
    assert len(sketches) == 0 and sketches.take("hash") is None
