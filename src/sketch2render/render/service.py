"""The render service: what the CLI, the API's job worker and a Ray replica call. It owns the
loaded components (retrieval embeddings, style library and its search, renderer, quality scorer)
and the chain,
and turns sketch bytes + parameters into a `RenderResult` (outputs.py writes it).

Built once by `build_service` (the API's lifespan, a replica, or a CLI command); nothing loads
at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from PIL import Image

from ..config import Settings
from ..models import ModelSet, resolve_models
from ..retrieval import HybridSearch, build_search
from ..schemas import RenderParams
from ..sketch.control import ControlMap
from ..styles import CLIPEmbeddings, StyleLibrary, build_embeddings, build_library
from .caches import Caches
from .inpaint import EditInputs, run_edit
from .pipeline import RenderComponents, RenderRequest, build_chain, chain_config
from .ports import NO_CONTROLS, RenderControls
from .quality import QualityScorer
from .renderer import Renderer, build_renderer
from .result import RenderResult
from .upscale import UpscaleInputs, run_upscale

log = logging.getLogger(__name__)


class RenderService:
    """Loaded components + the chain. Thread-safe: renders run one at a time (the renderer's lock)."""

    def __init__(
        self,
        settings: Settings,
        models: ModelSet,
        embeddings: CLIPEmbeddings,
        library: StyleLibrary,
        search: HybridSearch,
        renderer: Renderer,
    ) -> None:
        self.settings = settings
        self.models = models
        self.embeddings = embeddings
        self.library = library
        self.search = search
        self.renderer = renderer
        self.scorer = QualityScorer(embeddings, settings)
        self.components = RenderComponents(library, search, renderer, self.scorer, settings, models)
        self.chain = build_chain(self.components)

    def info(self) -> dict[str, Any]:
        return {
            "profile": self.models.profile,
            "smoke_test": self.models.smoke_test,
            "warning": self.models.warning,
            "device": self.renderer.device,
            "models": self.models.ids(),
        }

    def render(
        self,
        sketch: bytes | Image.Image,
        params: RenderParams,
        *,
        controls: RenderControls = NO_CONTROLS,
        principal: str = "",
        masks: Sequence[bytes | Image.Image] = (),
        control: ControlMap | None = None,
    ) -> RenderResult:
        """Run the chain, followed and steered by `controls` (progress, cancel, previews, deferred
        scores: ports.RenderControls). `principal`: whose corrections retrieval learns from. `masks`:
        one per region of `params.regions`, the size of the sketch (render/regions.py). `control`: the
        control map already built from this (resized) sketch with these parameters (the API's POST)."""
        request = RenderRequest(sketch, params, tuple(masks), principal, control)
        return self.chain.invoke(request, config=chain_config(controls))

    def edit(self, inputs: EditInputs, *, controls: RenderControls = NO_CONTROLS) -> RenderResult:
        """Repaint the masked area of a finished render (inpaint.py)."""
        return run_edit(self.components, inputs, controls)

    def upscale(self, inputs: UpscaleInputs, *, controls: RenderControls = NO_CONTROLS) -> RenderResult:
        """Enlarge a finished render by 2 or 4 and add detail tile by tile (upscale.py)."""
        return run_upscale(self.components, inputs, controls)


def build_service(settings: Settings) -> RenderService:
    """Resolve the model profile and load everything (seconds for tiny, longer for real weights)."""
    models = resolve_models(settings)
    caches = Caches.from_settings(settings)  # one object for what is kept between renders (S2R_CACHES)
    embeddings = build_embeddings(settings, models)
    library = build_library(settings, embeddings)
    search = build_search(settings, library, models, answers=caches.answers)
    renderer = build_renderer(settings, models, caches)
    if renderer.fast.compile_mode != "off":  # compile now, not in the first user's render
        log.info("torch.compile warm-up (%s)", renderer.fast.compile_mode)
        log.info("warm-up done in %s s per preset", renderer.warm_up())
    return RenderService(settings, models, embeddings, library, search, renderer)
