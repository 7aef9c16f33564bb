"""A stand-in for `RenderService`: the API's `RenderBackend` (library, models, info) and what the
job worker calls (`render`), with the real `StyleLibrary` (on the colour-aware `FakeEmbeddings`),
the real sketch decoding and edge detection, and images made deterministically from the sketch and
the seed in milliseconds. It has no model set (`models` is None), so every control type is allowed.

Knobs for tests: `step_delay` (seconds per step), `gate` (an Event every render waits on at
its first step until set, still honouring cancel), `fail_with` (an exception to raise midway).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import numpy as np
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.config import Settings
from sketch2render.errors import Cancelled
from sketch2render.models import ModelSet
from sketch2render.render import RenderResult
from sketch2render.render.ports import NO_CONTROLS, RenderControls
from sketch2render.render.selection import named_styles, render_scope
from sketch2render.render.stages import RenderRequest
from sketch2render.retrieval import HybridSearch
from sketch2render.schemas import ImageScores, RenderParams, RenderRecipe, StyleCredit, Timings
from sketch2render.sketch import imaging
from sketch2render.styles import StyleLibrary
from sketch2render.styles.collections import COLLECTIONS_FILE

FAKE_WARNING = "fake models for tests"


class FakeRenderService:
    def __init__(
        self,
        settings: Settings,
        *,
        library: StyleLibrary | None = None,
        step_delay: float = 0.0,
        gate: threading.Event | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        self.settings = settings
        self.library = (
            library
            if library is not None
            else StyleLibrary(
                Path(settings.styles_dir),
                FakeEmbeddings(),
                collections_url=settings.store_url(Path(settings.styles_dir) / COLLECTIONS_FILE),
            )
        )
        self.search = HybridSearch(self.library)
        self.models: ModelSet | None = None
        self.step_delay = step_delay
        self.gate = gate
        self.fail_with = fail_with
        self.calls: list[RenderParams] = []
        self.started = threading.Event()  # set when a render reaches its first step

    def info(self) -> dict:
        return {
            "profile": "fake",
            "smoke_test": True,
            "warning": FAKE_WARNING,
            "device": "cpu",
            "models": {"base": "fake"},
        }

    def render(
        self, sketch, params: RenderParams, *, controls: RenderControls = NO_CONTROLS,
        principal="", masks=(), control=None,
    ) -> RenderResult:  # fmt: skip
        t0 = time.perf_counter()
        progress, cancel, preview = controls.progress, controls.cancel, controls.preview
        defer_scores = controls.defer_scores
        self.calls.append(params)
        # 1. Decode and edges, as the real chain does.
        image = sketch if isinstance(sketch, Image.Image) else imaging.decode_upload(sketch, self.settings.limits)
        resized = imaging.resize_for_generation(image, params.size)
        edges = imaging.detect_edges(resized, low=params.canny_low, high=params.canny_high)
        # 2. Styles: the given ids (unknown ones raise NotFound) or retrieval, within the render's scope.
        request = RenderRequest(b"", params, principal=principal)
        scope = render_scope(request, self.library, commercial_only=self.settings.commercial_only)
        if params.style_ids:
            hits = named_styles(params.style_ids, self.library, scope)
        elif len(self.library):
            hits = self.search.search(params.prompt, params.top_k, principal=principal, scope=scope)
        else:
            hits = []
        used = [hits[0].model_copy(update={"weight": 1.0}), *hits[1:]] if hits else []
        # 3. "Denoising": steps with progress and cancellation between them.
        seed = params.seed if params.seed is not None else random.randrange(2**32)
        total = params.steps
        for step in range(1, total + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("render cancelled")
            if step == 1:
                self.started.set()
                while self.gate is not None and not self.gate.wait(0.01):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("render cancelled")
            if self.fail_with is not None and step == max(1, total // 2):
                raise self.fail_with
            if self.step_delay:
                time.sleep(self.step_delay)
            if progress:
                progress(step, total)
            if preview and step % 2 == 0 and step < total:  # as the real renderer: every few steps
                preview(step, Image.new("RGB", (32, 32), (step * 10 % 256, 80, 120)))
        images = [self._image(resized, edges.edges, seed + i) for i in range(params.num_images)]
        elapsed = time.perf_counter() - t0
        recipe = RenderRecipe(
            params=params.model_copy(update={"seed": seed}),
            seed=seed,
            width=resized.width,
            height=resized.height,
            styles=used,
            fallback_reason=None if hits else "the style library is empty",
            edges={"low": edges.low, "high": edges.high, "inverted": edges.inverted},
            models={"profile": "fake"},
            smoke_test=True,
            timings=Timings(decode=0.001, edges=0.002, denoise=elapsed, total=elapsed),
            scores=[] if defer_scores else [ImageScores(structure_f1=0.5) for _ in images],
            attribution=[StyleCredit.of(used[0].style)] if used else [],
        )
        scores = (lambda: [ImageScores(structure_f1=0.5) for _ in images]) if defer_scores else None  # noqa: E731
        return RenderResult(images, edges.control_image(), resized, recipe, pending_scores=scores)

    @staticmethod
    def _image(sketch: Image.Image, edges: np.ndarray, seed: int) -> Image.Image:
        """Deterministic: a colour from (sketch, seed), the edges drawn dark on it."""
        digest = hashlib.sha256(sketch.tobytes() + seed.to_bytes(8, "little")).digest()
        canvas = np.empty((sketch.height, sketch.width, 3), dtype=np.uint8)
        canvas[:] = np.frombuffer(digest[:3], dtype=np.uint8)
        canvas[edges > 0] = 20
        return Image.fromarray(canvas)
