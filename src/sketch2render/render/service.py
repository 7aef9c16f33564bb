"""The render service: what the CLI, the API's job worker and a Ray replica call. It owns the
loaded components (retrieval embeddings, style library and its search, renderer, quality scorer)
and the chain,
and turns sketch bytes + parameters into a `RenderResult` (outputs.py writes it).

Built once by `build_service` (the API's lifespan, a replica, or a CLI command); nothing loads
at import time. With several families served (`S2R_MODELS=sdxl,sd15`) the default family's renderer
loads at start and each other family's on its first render (`family`); retrieval, the style library
and the quality scorer are shared by all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from ..config import Settings
from ..models import ModelSet, ServedFamilies, resolve_served
from ..retrieval import HybridSearch, build_search
from ..schemas import RenderParams
from ..sketch.control import ControlMap
from ..styles import CLIPEmbeddings, StyleLibrary, build_embeddings, build_library
from .caches import Caches
from .inpaint import EditInputs, run_edit
from .loaded_families import LoadedFamilies, LoadedFamily
from .outputs import read_recipe
from .pipeline import build_chain, chain_config
from .ports import NO_CONTROLS, RenderControls
from .quality import QualityScorer
from .renderer import Renderer, build_renderer
from .result import RenderResult
from .stages import RenderComponents, RenderRequest
from .upscale import UpscaleInputs, run_upscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FamilyRender:
    """One served family, loaded: its model set, its renderer, the components and chain over them."""

    models: ModelSet
    renderer: Renderer
    components: RenderComponents
    chain: Any  # Runnable[RenderRequest, RenderResult]


class RenderService:
    """Loaded components + the chain of each family. Thread-safe: renders run one at a time per
    renderer (its lock); a family loads once, on first use (loaded_families.py)."""

    def __init__(
        self,
        settings: Settings,
        models: ModelSet,
        embeddings: CLIPEmbeddings,
        library: StyleLibrary,
        search: HybridSearch,
        renderer: Renderer,
        *,
        served: ServedFamilies | None = None,
        caches: Caches | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.embeddings = embeddings
        self.library = library
        self.search = search
        self.renderer = renderer
        self.families = served if served is not None else ServedFamilies.single(models)
        self.scorer = QualityScorer(embeddings, settings)
        caches = caches if caches is not None else renderer.caches
        self.loaded = LoadedFamilies(settings, self.families, caches, LoadedFamily(models, renderer))
        self._assembled: dict[str, FamilyRender] = {}
        default = self.family(models.family)
        self.components = default.components
        self.chain = default.chain

    def family(self, name: str | None) -> FamilyRender:
        """A served family, loaded (the first render of a family other than the default loads it):
        422 naming `family` when it is not served, 503 when its weights are missing."""
        loaded = self.loaded.get(name)
        assembled = self._assembled.get(loaded.models.family)
        if assembled is None:
            components = loaded.components(self.library, self.search, self.scorer, self.settings)
            assembled = FamilyRender(loaded.models, loaded.renderer, components, build_chain(components))
            self._assembled[loaded.models.family] = assembled
        return assembled

    def prepare_params(self, params: RenderParams) -> tuple[FamilyRender, RenderParams]:
        """The family a request renders with, and its parameters with that family's defaults for what
        it left out; a parameter the family cannot honour is a 422 naming it."""
        entry, params = self.families.for_request(params)
        return self.family(entry.family), params

    def info(self) -> dict[str, Any]:
        loaded = self.loaded.names()
        return {
            "profile": self.models.profile,
            "smoke_test": self.models.smoke_test,
            "warning": self.models.warning,
            "device": self.renderer.device,
            "models": self.models.ids(),
            "family": self.families.default,
            "families": self.families.summaries(loaded),
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
        """Run the chain of the params' family, followed and steered by `controls` (progress, cancel,
        previews, deferred scores: ports.RenderControls). `principal`: whose corrections retrieval learns
        from. `masks`: one per region of `params.regions`, the size of the sketch (render/regions.py).
        `control`: the control map already built from this (resized) sketch with these parameters (the
        API's POST)."""
        family, params = self.prepare_params(params)
        request = RenderRequest(sketch, params, tuple(masks), principal, control)
        return family.chain.invoke(request, config=chain_config(controls))

    def edit(self, inputs: EditInputs, *, controls: RenderControls = NO_CONTROLS) -> RenderResult:
        """Repaint the masked area of a finished render (inpaint.py), on the parent's family."""
        family, params = self.prepare_params(inputs.params)
        return run_edit(family.components, replace(inputs, params=params), controls)

    def upscale(self, inputs: UpscaleInputs, *, controls: RenderControls = NO_CONTROLS) -> RenderResult:
        """Enlarge a finished render by 2 or 4 and add detail tile by tile (upscale.py), on its family."""
        family = self.family(read_recipe(inputs.parent_png).family)
        return run_upscale(family.components, inputs, controls)


def build_service(settings: Settings) -> RenderService:
    """Resolve the model profiles and load everything the default family needs (seconds for tiny,
    longer for real weights); the other families load on their first render."""
    served = resolve_served(settings)
    models = served.entries[0].models
    caches = Caches.from_settings(settings)  # one object for what is kept between renders (S2R_CACHES)
    embeddings = build_embeddings(settings, models)
    library = build_library(settings, embeddings)
    search = build_search(settings, library, models, answers=caches.answers)
    renderer = build_renderer(settings, models, caches)
    if renderer.fast.compile_mode != "off":  # compile now, not in the first user's render
        log.info("torch.compile warm-up (%s)", renderer.fast.compile_mode)
        log.info("warm-up done in %s s per preset", renderer.warm_up())
    return RenderService(settings, models, embeddings, library, search, renderer, served=served, caches=caches)
