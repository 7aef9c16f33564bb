"""The render pipeline: the LCEL chain that joins retrieval to generation, as typed module-level steps.

    RenderRequest ─► plan: prepare (decode, resize, Canny), retrieve (named styles or search)
                  ─► generate ─► score ─► RenderResult

- `prepare`: the sketch under the upload limits, resized to the render size, its control image
  (sketch/prepare.py, as the API's POST and the web UI's preview; sketch/control.py: canny, lineart, scribble,
  softedge, or auto), and the region masks.
- `retrieve`: the styles the user named, or hybrid search of the library for the prompt (skipped when the
  request brings them: a Ray replica's request, retrieved by the API process).
- `generate`: which styles drive the IP-Adapter and with what weights (`select_styles`), what they go in
  as (`style_input`: the blended embedding, each style encoded once, then cached; on a reference family
  the style images in order), optional auto-balance, the diffusers call.
- `score`: quality scores of every image; then the recipe is built, once.

prepare and retrieve run one after the other: in two threads (`RunnableParallel`) they cost more
per render than they saved (the thread start-up, against a prepare that is nearly free when the
API's POST has already decoded the sketch and found its lines; benchmarks/results.md has the numbers).
Progress, cancellation, previews and deferred scores travel in the `RunnableConfig`, not in the
data: one `RenderControls` (ports.py) under one key (`chain_config` puts it there, `render_controls`
reads it). The loaded collaborators arrive through `RenderComponents`, typed by the Protocols in
`ports.py`.
"""

from __future__ import annotations

import random
import threading
import time
from functools import partial

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from PIL import Image

from ..config import Settings
from ..errors import Cancelled
from ..models import ModelSet
from ..schemas import ImageScores, RegionScores, RenderParams, RenderRecipe, StyleCredit, StyleHit, Timings
from ..sketch.control import CONTROL_TYPES
from ..sketch.masks import resize_mask
from ..sketch.prepare import decode_sketch, prepare_sketch
from ..version import __version__
from .balance import DEFAULT_GRID, auto_balance, balance_references
from .ports import NO_CONTROLS, RenderControls, StyleSearcher, StyleSource
from .regions import RegionOutcome, decode_region_masks, ip_adapter_inputs, region_recipes, retrieve_regions
from .result import RenderResult
from .selection import named_styles, render_scope, style_choice, style_embedding
from .stages import Planned, Prepared, RenderComponents, Rendered, RenderRequest, Retrieved

CONTROLS_KEY = "render_controls"  # the one `configurable` entry the chain's steps read


def chain_config(controls: RenderControls, run_name: str = "render") -> RunnableConfig:
    """The chain's config: the caller's controls under their one key."""
    return {"configurable": {CONTROLS_KEY: controls}, "run_name": run_name}


def render_controls(config: RunnableConfig | None) -> RenderControls:
    """The controls a caller put in the config (`chain_config`); none: `NO_CONTROLS`."""
    controls = ((config or {}).get("configurable") or {}).get(CONTROLS_KEY)
    if controls is None:
        return NO_CONTROLS
    if not isinstance(controls, RenderControls):
        raise TypeError(f"configurable[{CONTROLS_KEY!r}] must be RenderControls, got {type(controls).__name__}")
    return controls


def step_callback(controls: RenderControls, total: int, offset: int = 0):
    """diffusers' `callback_on_step_end`: progress after each step, cancellation between steps."""
    progress, cancel = controls.progress, controls.cancel

    def on_step_end(pipe, step, timestep, callback_kwargs):
        if progress is not None:
            progress(offset + step + 1, total)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the render was cancelled")
        return callback_kwargs

    return on_step_end


# ------------------------------------------------------------------------------------ steps
def prepare(request: RenderRequest, *, settings: Settings, models: ModelSet | None = None) -> Prepared:
    """The sketch and its control map (sketch/prepare.py, with the loaded ControlNets: `models`), and the
    region masks checked against the decoded sketch's size, then resized with it. A handed-in
    control map (`request.control`) is used only with an image: it belongs to the image it was built from."""
    t0 = time.perf_counter()
    params, sketch, limits = request.params, request.sketch, settings.limits
    if isinstance(sketch, bytes | bytearray):  # region masks are the full sketch's size: so is its decode then
        sketch = decode_sketch(bytes(sketch), params, limits, full_size=bool(request.masks))
    masks = decode_region_masks(request.masks, params, sketch_size=sketch.size, limits=limits)
    handed = request.control if isinstance(request.sketch, Image.Image) else None
    available = models.control_types if models is not None else CONTROL_TYPES
    ready = prepare_sketch(sketch, params, limits, available=available, control=handed)
    masks = tuple(resize_mask(m, ready.image.size) for m in masks)
    decode_s = time.perf_counter() - t0 - ready.control_s
    return Prepared(ready.image, ready.control, ready.control.control_image(), decode_s, ready.control_s, masks)


def plan(request: RenderRequest, *, components: RenderComponents) -> Planned:
    """The sketch prepared, then the styles retrieved (see the module docstring for why not in parallel)."""
    prepared = prepare(request, settings=components.settings, models=components.models)
    retrieved = request.retrieved  # found by the caller already (a Ray replica's request)
    if retrieved is None:
        commercial_only = components.settings.commercial_only
        library, search = components.library, components.search
        retrieved = retrieve(request, library=library, search=search, commercial_only=commercial_only)
    return Planned(request, prepared, retrieved)


def retrieve(
    request: RenderRequest, *, library: StyleSource, search: StyleSearcher, commercial_only: bool = False
) -> Retrieved:
    """The named styles, or those hybrid search finds for the prompt (and each region's), within the
    render's scope (`render_scope`; `commercial_only`: the server's default)."""
    t0 = time.perf_counter()
    params = request.params
    scope = render_scope(request, library, commercial_only=commercial_only)
    if params.style_ids:
        return Retrieved(named_styles(params.style_ids, library, scope), True, time.perf_counter() - t0)
    if params.style_mode == "none" or len(library) == 0:
        return Retrieved([], False, 0.0, tuple([] for _ in params.regions))
    hits = search.search(params.prompt, k=params.top_k, principal=request.principal, scope=scope)
    regions = tuple(retrieve_regions(params, search, request.principal, scope))
    return Retrieved(hits, False, time.perf_counter() - t0, regions)


def generate(planned: Planned, config: RunnableConfig, *, components: RenderComponents) -> Rendered:
    controls = render_controls(config)
    started = time.perf_counter()
    params = planned.request.params
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
    params = params.model_copy(update={"seed": seed})
    choose = style_choice(params, components.settings)
    used, fallback = choose(planned.retrieved)
    t_embed = time.perf_counter()
    embeds = components.renderer.style_input(components.library, used) if used else None
    ip_masks, regions = None, None
    if params.regions:
        embeds, ip_masks, regions = style_regions(planned, params, embeds, choose, components)
    embed_s = time.perf_counter() - t_embed
    balance, prepared, sketch = None, planned.prepared, planned.prepared.sketch
    if isinstance(embeds, list):  # reference images (a reference family): the used styles are the ones passed
        used = [reference.hit for reference in embeds]
    if params.auto_balance:
        params, embeds, sketch, balance = balance_strengths(components, prepared, params, embeds, used, controls.cancel)
        if isinstance(embeds, list):  # a reference family keeps the best few style references
            fallback = fallback or (None if embeds or not used else "auto-balance kept no style reference")
            used = used[: len(embeds)]
    generated = components.renderer.generate(
        prepared.control,
        params,
        seed=seed,
        control_type=prepared.control_map.kind,
        style_embeds=embeds,
        progress=controls.progress,
        cancel=controls.cancel,
        preview=controls.preview,
        ip_masks=ip_masks,
        sketch=sketch,
    )
    return Rendered(planned, params, used, fallback, generated, embed_s, balance, started, regions)


def style_regions(planned: Planned, params: RenderParams, global_embeds, choose, components: RenderComponents):
    """Each region's styles (the same selection and fallback rules as the global style), and the
    IP-Adapter's inputs: one image per styled region, the global style on the background."""
    hits, used, fallbacks, embeds = planned.retrieved.regions, [], [], []
    for found in hits:
        chosen, why = choose(Retrieved(list(found), False, 0.0))
        used.append(chosen)
        fallbacks.append(why)
        embeds.append(style_embedding(components.library, components.renderer, chosen) if chosen else None)
    masks = planned.prepared.region_masks
    ip_embeds, ip_masks = ip_adapter_inputs(global_embeds, embeds, masks)
    recipes = region_recipes(params, masks, hits, used, fallbacks)
    return ip_embeds, ip_masks, RegionOutcome(recipes, masks, used)


def score(rendered: Rendered, config: RunnableConfig, *, components: RenderComponents) -> RenderResult:
    """Quality scores of every image, then the recipe (built once, here). With `defer_scores` in
    the controls the recipe has no scores yet and the result carries the scoring to run later."""
    t0 = time.perf_counter()
    prepared, retrieved = rendered.planned.prepared, rendered.planned.retrieved
    images = rendered.generated.images
    reference = prepared.control_map.reference  # the sketch's lines for this control type

    def measure() -> list[ImageScores]:
        advice = components.renderer.family.structure_advice
        scores = components.scorer.score(
            images, reference, rendered.params.prompt, rendered.used, components.library, advice
        )
        if rendered.regions is not None:  # style similarity inside each region, against its own styles
            outcome = rendered.regions
            for image, image_scores in zip(images, scores, strict=True):
                image_scores.regions = [
                    RegionScores(
                        prompt=r.prompt,
                        style_similarity=components.scorer.region_similarity(image, m, u, components.library),
                    )
                    for r, m, u in zip(outcome.recipes, outcome.masks, outcome.used, strict=True)
                ]
        return scores

    defer = render_controls(config).defer_scores
    scores = [] if defer else measure()
    scores_s = time.perf_counter() - t0
    weights = {h.id: h.weight for h in rendered.used}
    timings = Timings(
        decode=prepared.decode_s,
        edges=prepared.edges_s,
        retrieval=retrieved.seconds,
        embeds=rendered.embed_s,
        denoise=rendered.generated.denoise_s,
        vae_decode=rendered.generated.vae_decode_s,
        scores=scores_s,
    )
    timings.total = timings.decode + timings.edges + timings.retrieval + (time.perf_counter() - rendered.started)
    models = components.models
    recipe = RenderRecipe(
        params=rendered.params,
        seed=rendered.params.seed,
        family=components.renderer.family.name,
        width=prepared.sketch.width,
        height=prepared.sketch.height,
        styles=[h.model_copy(update={"weight": weights.get(h.id)}) for h in retrieved.hits],
        fallback_reason=rendered.fallback,
        edges=prepared.control_map.summary if prepared.control_map.kind == "canny" else {},
        control=prepared.control_map.summary,
        speed=rendered.generated.speed.model_copy(
            update={"steps": rendered.params.steps, "guidance_scale": rendered.params.guidance_scale}
        ),
        models=_model_ids(models, prepared.control_map.kind),
        smoke_test=bool(models is not None and models.smoke_test),
        device=components.renderer.device,
        dtype=components.renderer.dtype_name,
        timings=timings,
        scores=scores,
        balance=rendered.balance,
        regions=rendered.regions.recipes if rendered.regions is not None else [],
        attribution=attribution(rendered),
        references=rendered.generated.references,
        version=__version__,
    )
    return RenderResult(
        images=images,
        control_image=prepared.control,
        sketch=prepared.sketch,
        recipe=recipe,
        pending_scores=measure if defer else None,
    )


def attribution(rendered: Rendered) -> list[StyleCredit]:
    """The credit owed to each style the render used (globally or in a region), once each."""
    used = [*rendered.used, *(h for hits in (rendered.regions.used if rendered.regions else []) for h in hits)]
    return [StyleCredit.of(h.style) for h in {h.id: h for h in used}.values()]


def _model_ids(models: ModelSet | None, control_type: str) -> dict[str, str]:
    """The recipe's model names: the profile, each component, and the ControlNet actually used."""
    if models is None:
        return {}
    return {"profile": models.profile, **models.ids(), "controlnet": models.controlnet_id(control_type)}


def balance_strengths(
    components: RenderComponents,
    prepared: Prepared,
    params: RenderParams,
    embeds,
    used: list[StyleHit],
    cancel: threading.Event | None,
) -> tuple[RenderParams, object, Image.Image | None, dict]:
    """Probe a grid of (control, style) strengths at few steps; keep the best pair (balance.py). A reference
    family has none: probe reference 1 (sketch or control map) x how many style references instead.
    (params, the style input, the sketch to pass (None: reference 1 is the control map), the report)"""
    ids, shares, kind = [h.id for h in used], [h.weight or 0.0 for h in used], prepared.control_map.kind

    def probe(p: RenderParams, styles=embeds, sketch: Image.Image | None = prepared.sketch) -> list[Image.Image]:
        return components.renderer.generate(
            prepared.control, p, seed=params.seed, control_type=kind, style_embeds=styles, cancel=cancel, sketch=sketch
        ).images

    def probe_score(image: Image.Image) -> tuple[float, float | None]:
        return components.scorer.probe_score(prepared.control_map.reference, image, ids, shares, components.library)

    threshold = components.scorer.threshold
    if components.renderer.family.geometry == "reference":
        refs = list(embeds or [])

        def probe_refs(use_sketch: bool, count: int, steps: int) -> list[Image.Image]:
            update = {"steps": steps, "num_images": 1}
            return probe(params.model_copy(update=update), refs[:count], prepared.sketch if use_sketch else None)

        sketch, count, report = balance_references(probe_refs, probe_score, len(refs), min(2, params.steps), threshold)
        return params, refs[:count], prepared.sketch if sketch else None, report
    grid = DEFAULT_GRID if used else (DEFAULT_GRID[0], (params.style_strength,))  # no style: one axis
    control, style, report = auto_balance(probe, probe_score, params, grid=grid, threshold=threshold)
    balanced = params.model_copy(update={"control_strength": control, "style_strength": style})
    return balanced, embeds, prepared.sketch, report


# ------------------------------------------------------------------------------------ chain
def build_chain(components: RenderComponents) -> Runnable[RenderRequest, RenderResult]:
    """plan (prepare, retrieve) → generate → score, as one LCEL runnable."""
    return (
        RunnableLambda(partial(plan, components=components), name="plan")
        | RunnableLambda(partial(generate, components=components), name="generate")
        | RunnableLambda(partial(score, components=components), name="score")
    )
