"""The API process's side of a replica job (replica_jobs.py): read the job's inputs from its folder, retrieve
its styles here (hybrid search with the owner's corrections, within the owner's scope, by the same rules
as a local render: render/pipeline.py's `retrieve`), and pack the styles the job may use with their
images and the IP-Adapter embeddings the library keeps. The embeddings replicas compute come back and
are stored in the library (`keep`).

Only the styles that can drive the render travel: those `select_styles` picks from the prompt's hits and
from each region's (an edit: from its prompt's; an upscale: those its parent's recipe used), so a job
carries a few style images, not its `top_k` hits' worth.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from ..config import Settings
from ..errors import S2RError
from ..jobs import Job
from ..jobs.derived import derived_inputs, job_file
from ..jobs.executor import job_input
from ..jobs.job import REGION_MASK_NAME
from ..render.inpaint import EditInputs
from ..render.outputs import read_recipe
from ..render.pipeline import retrieve
from ..render.ports import StyleSearcher, StyleSource
from ..render.selection import style_choice
from ..render.stages import RenderRequest, Retrieved
from ..schemas import RenderParams, StyleHit
from .replica_jobs import EditJob, RenderJob, ReplicaJob, ShippedEmbeds, ShippedStyle, UpscaleJob

log = logging.getLogger("sketch2render.scale")


class ShippingLibrary(StyleSource, Protocol):
    """What packing a job needs of the style library (styles.StyleLibrary): its records, stored images
    and kept embeddings."""

    def __contains__(self, style_id: object) -> bool: ...

    def image_bytes(self, style_id: str) -> bytes: ...


class JobShipper:
    """Builds the replica job of a stored job; keeps the embeddings replicas send back. Thread-safe."""

    def __init__(self, library: ShippingLibrary, search: StyleSearcher, settings: Settings) -> None:
        self.library = library
        self.search = search
        self.settings = settings
        self._encoder_keys: set[str] = set()  # the image encoders replicas computed embeddings with
        self._lock = threading.Lock()

    def job(self, job: Job, job_dir: Path) -> ReplicaJob:
        """What a replica needs to run `job` (read from `job_dir`), its styles retrieved here."""
        if job.kind == "render":
            sketch, params = job_input(job, job_dir)
            masks = tuple(job_file(job_dir, REGION_MASK_NAME.format(index=i)) for i in range(len(params.regions)))
            retrieved = self._retrieve(params, job.owner or "")
            return RenderJob(sketch, params, masks, retrieved, self._ship(self._chosen(params, retrieved)))
        inputs = derived_inputs(job, job_dir)
        if isinstance(inputs, EditInputs):
            retrieved = self._retrieve(inputs.params, inputs.principal)
            used = self._chosen(inputs.params, retrieved)
            return EditJob(inputs, retrieved, self._ship(used))
        parent = read_recipe(inputs.parent_png)
        return UpscaleJob(inputs, self._ship(h for h in parent.styles if h.weight and h.id in self.library))

    def keep(self, computed: Sequence[ShippedEmbeds]) -> None:
        """Store the embeddings a replica computed beside their styles (a style removed since: skipped)."""
        from safetensors.torch import load

        for embeds in computed:
            with self._lock:
                self._encoder_keys.add(embeds.encoder_key)
            try:
                self.library.save_ip_embeds(embeds.style_id, embeds.encoder_key, load(embeds.data)["embeds"])
            except S2RError as exc:  # removed since, or the store is away: the replica keeps its own copy
                log.info("not keeping the embedding of style %s: %s", embeds.style_id, exc.message)
            except Exception:  # a speed-up only: never the job's failure
                log.warning("could not keep the embedding of style %s", embeds.style_id, exc_info=True)

    # --- retrieval and packing -----------------------------------------------------------------
    def _retrieve(self, params: RenderParams, principal: str) -> Retrieved:
        """The named styles, or those the prompt (and each region's) finds for `principal`, as a local
        render or edit retrieves them."""
        request = RenderRequest(b"", params, principal=principal)
        commercial_only = self.settings.commercial_only
        return retrieve(request, library=self.library, search=self.search, commercial_only=commercial_only)

    def _chosen(self, params: RenderParams, retrieved: Retrieved) -> list[StyleHit]:
        """The styles that can drive the render: the global choice and each region's."""
        choose = style_choice(params, self.settings)
        used = list(choose(retrieved)[0])
        for found in retrieved.regions:
            used.extend(choose(Retrieved(list(found), False, 0.0))[0])
        return used

    def _ship(self, hits: Iterable[StyleHit]) -> tuple[ShippedStyle, ...]:
        with self._lock:
            keys = sorted(self._encoder_keys)
        shipped = {}
        for hit in hits:
            if hit.id not in shipped:
                shipped[hit.id] = ShippedStyle(hit.style, self.library.image_bytes(hit.id), self._embeds(hit.id, keys))
        return tuple(shipped.values())

    def _embeds(self, style_id: str, keys: Sequence[str]) -> tuple[ShippedEmbeds, ...]:
        if not keys:
            return ()
        from safetensors.torch import save

        found = []
        for key in keys:
            tensor = self.library.load_ip_embeds(style_id, key)
            if tensor is not None:
                found.append(ShippedEmbeds(style_id, key, save({"embeds": tensor.contiguous()})))
        return tuple(found)
