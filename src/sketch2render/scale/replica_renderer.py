"""What a render replica loads and how it runs a job it was sent (replica_jobs.py).

A replica loads the served families' renderers (the default family's at start, each other's on its first
job: render/loaded_families.py) and the CLIP model its quality scores use, from its own node: the model
profile of `S2R_MODELS` resolved there (the Hugging Face cache of that machine, a stand-in built there, or a
model folder at the same path there). It opens no style library, no search and no feedback store: a job
brings its styles, retrieved by the API process (shipped_styles.py), and nothing is read from or written to
the API's data folder.

`node_settings`: the API's settings, with this node's own folders where the node's environment (that of its
`ray start`) names them (`S2R_HOME`, where stand-ins are built; `S2R_MODEL_DIR`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Settings
from ..models import ServedFamilies, resolve_served
from ..render.caches import Caches
from ..render.inpaint import run_edit
from ..render.loaded_families import LoadedFamilies, LoadedFamily
from ..render.outputs import read_recipe
from ..render.pipeline import build_chain, chain_config
from ..render.ports import RenderControls
from ..render.quality import QualityScorer
from ..render.renderer import build_renderer
from ..render.result import RenderResult
from ..render.stages import RenderRequest
from ..render.upscale import run_upscale
from ..styles import build_embeddings
from .replica_jobs import EditJob, RenderJob, ReplicaJob, ShippedEmbeds
from .shipped_styles import NO_SEARCH, ShippedLibrary

log = logging.getLogger("sketch2render.scale")


def node_settings(settings: Settings, environ: dict[str, str] | None = None) -> Settings:
    """`settings` with the folders this node's environment sets (`S2R_HOME`, `S2R_MODEL_DIR`) in place of
    the API machine's, and without the API's database (a replica opens no store: GPU nodes need no
    route to PostgreSQL)."""
    env = os.environ if environ is None else environ
    update: dict[str, Path | None] = {"database_url": None}
    if env.get("S2R_HOME"):
        update["home"] = Path(env["S2R_HOME"]).expanduser()
    if env.get("S2R_MODEL_DIR"):
        update["model_dir"] = Path(env["S2R_MODEL_DIR"]).expanduser()
    return settings.model_copy(update=update)


@dataclass(frozen=True)
class ReplicaOutcome:
    result: RenderResult
    computed: list[ShippedEmbeds]  # style embeddings computed for this job (for the API to keep)


class ReplicaRenderer:
    """The loaded families and the quality scorer of one replica. Jobs run one at a time (the replica's)."""

    def __init__(self, settings: Settings, served: ServedFamilies, families: LoadedFamilies, scorer: QualityScorer):
        self.settings = settings
        self.served = served
        self.families = families
        self.scorer = scorer

    @classmethod
    def build(cls, settings: Settings) -> ReplicaRenderer:
        served = resolve_served(settings)
        models = served.entries[0].models
        caches = Caches.from_settings(settings)  # style embeddings kept here, by style id and encoder
        scorer = QualityScorer(build_embeddings(settings, models), settings)
        renderer = build_renderer(settings, models, caches)
        if renderer.fast.compile_mode != "off":  # compile now, not in the first job
            log.info("warm-up done in %s s per preset", renderer.warm_up())
        families = LoadedFamilies(settings, served, caches, LoadedFamily(models, renderer))
        return cls(settings, served, families, scorer)

    def info(self) -> dict[str, Any]:
        default = self.families.get(None)
        models, loaded = default.models, self.families.names()
        return {
            "profile": models.profile,
            "smoke_test": models.smoke_test,
            "warning": models.warning,
            "device": default.renderer.device,
            "models": models.ids(),
            "family": self.served.default,
            "families": [e.summary(self.served.default, e.family in loaded) for e in self.served.entries],
        }

    def run(self, job: ReplicaJob, controls: RenderControls) -> ReplicaOutcome:
        """Render, edit or upscale, on the job's family, with the styles it brought."""
        if isinstance(job, RenderJob):
            hits = [*job.retrieved.hits, *(h for found in job.retrieved.regions for h in found)]
            library = ShippedLibrary(job.styles, hits)
            entry, params = self.served.for_request(job.params)
            components = self.families.get(entry.family).components(library, NO_SEARCH, self.scorer, self.settings)
            request = RenderRequest(job.sketch, params, job.masks, retrieved=job.retrieved)
            result = build_chain(components).invoke(request, config=chain_config(controls))
        elif isinstance(job, EditJob):
            library = ShippedLibrary(job.styles, job.retrieved.hits)
            entry, params = self.served.for_request(job.inputs.params)
            components = self.families.get(entry.family).components(library, NO_SEARCH, self.scorer, self.settings)
            result = run_edit(components, replace(job.inputs, params=params, retrieved=job.retrieved), controls)
        else:
            library = ShippedLibrary(job.styles)
            family = self.families.get(read_recipe(job.inputs.parent_png).family)
            result = run_upscale(
                family.components(library, NO_SEARCH, self.scorer, self.settings), job.inputs, controls
            )
        return ReplicaOutcome(result, library.computed)
