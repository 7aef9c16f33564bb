"""One preparation of a sketch (sketch/prepare.py) for the API's POST, the render pipeline and the web UI's
preview: the same pixels and control map from each; the decode size rule; what `available` does;
and the chain's controls as one typed object (render/pipeline.py: chain_config, render_controls)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2render.config import Settings
from sketch2render.render.pipeline import CONTROLS_KEY, chain_config, prepare, render_controls
from sketch2render.render.ports import NO_CONTROLS, RenderControls
from sketch2render.render.stages import RenderRequest
from sketch2render.schemas import RenderParams
from sketch2render.sketch.control import CONTROL_TYPES
from sketch2render.sketch.prepare import PreparedSketch, decode_sketch, prepare_sketch
from sketch2render.ui.sketching import edge_preview


def _drawing(fmt: str = "PNG", side: int = 1200) -> bytes:
    image = Image.new("RGB", (side, side * 3 // 4), "white")
    draw = ImageDraw.Draw(image)
    for i in range(6):
        draw.line((20 + 80 * i, 30, side - 50 * i, side // 2), fill="black", width=4)
    draw.rectangle((side // 4, side // 5, side // 2, side // 2), outline="black", width=5)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=90)
    return buffer.getvalue()


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_ui_preview_and_the_pipeline_prepare_what_prepare_sketch_prepares():
    settings = Settings()
    data = _drawing("JPEG")
    for control in ("canny", "lineart", "auto"):
        params = RenderParams(prompt="x", size=256, control=control, simplify=0.3)
        shared = prepare_sketch(data, params, settings.limits, available=CONTROL_TYPES)
        assert isinstance(shared, PreparedSketch) and max(shared.image.size) == 256
        preview = edge_preview(data, 256, settings, control, 0.3)
        assert np.array_equal(_png(preview.sketch_png), np.asarray(shared.image)), control
        assert np.array_equal(_png(preview.control_png), np.asarray(shared.control.control_image())), control
        piped = prepare(RenderRequest(data, params), settings=settings)
        assert np.array_equal(np.asarray(piped.sketch), np.asarray(shared.image)), control
        assert np.array_equal(piped.control_map.image, shared.control.image), control
        assert piped.control_map.summary == shared.control.summary, control


def test_full_size_decodes_the_upload_at_its_own_size_and_resizes_to_the_same_pixels():
    settings = Settings()
    data = _drawing("JPEG", side=2048)
    params = RenderParams(prompt="x", size=256)
    full = decode_sketch(data, params, settings.limits, full_size=True)
    reduced = decode_sketch(data, params, settings.limits)
    assert full.size == (2048, 1536) and reduced.width < full.width and max(reduced.size) >= 256
    from_full = prepare_sketch(full, params, settings.limits, available=CONTROL_TYPES)
    from_reduced = prepare_sketch(reduced, params, settings.limits, available=CONTROL_TYPES)
    assert from_full.image.size == from_reduced.image.size


def test_a_handed_in_control_map_is_kept_and_auto_chooses_only_among_the_available_types():
    settings = Settings()
    data = _drawing(side=400)
    params = RenderParams(prompt="x", size=128, control="auto")
    anything = prepare_sketch(data, params, settings.limits, available=CONTROL_TYPES)
    assert anything.control.kind != "canny"  # a clean line drawing: auto picks a stroke map
    only_canny = prepare_sketch(data, params, settings.limits, available=("canny",))
    assert only_canny.control.kind == "canny" and "fallback" in only_canny.control.summary
    kept = prepare_sketch(anything.image, params, settings.limits, available=("canny",), control=anything.control)
    assert kept.control is anything.control and np.array_equal(np.asarray(kept.image), np.asarray(anything.image))


def test_the_chain_reads_its_controls_from_one_typed_entry():
    cancel = threading.Event()
    controls = RenderControls(progress=lambda step, total: None, cancel=cancel, defer_scores=True)
    config = chain_config(controls)
    assert config["configurable"] == {CONTROLS_KEY: controls} and render_controls(config) is controls
    assert render_controls(None) is NO_CONTROLS and render_controls({"configurable": {}}) is NO_CONTROLS
    assert NO_CONTROLS.progress is None and NO_CONTROLS.cancel is None and not NO_CONTROLS.defer_scores
    with pytest.raises(TypeError):
        render_controls({"configurable": {CONTROLS_KEY: {"progress": None}}})
    with pytest.raises(AttributeError):  # frozen
        controls.defer_scores = False  # type: ignore[misc]
