"""The render pipeline: the LCEL chain that joins retrieval to generation, as typed module-level steps.

    RenderRequest ─► plan: prepare (decode, resize, Canny), retrieve (named styles or search)
                  ─► generate ─► score ─► RenderResult

- `prepare`: the sketch under the upload limits, resized to the render size, its control image
  (control.py: canny, lineart, scribble, softedge, or auto).
- `retrieve`: the styles the user named, or hybrid search of the library for the prompt.
- `generate`: which styles drive the IP-Adapter and with what weights (`select_styles`), their
  blended embedding (each style encoded once, then cached), optional auto-balance, the diffusers call.
- `score`: quality scores of every image; then the recipe is built, once.

prepare and retrieve run one after the other: in two threads (`RunnableParallel`) they cost ~2 ms
more per render than they saved (the thread start-up, against a prepare of under a millisecond when
the API's POST has already decoded the sketch and found its lines; see benchmarks/results.md).
Progress and cancellation travel in the
`RunnableConfig` (`configurable={"progress": fn, "cancel": Event}`), not in the data. The
collaborators arrive through `Parts`, typed by the Protocols in `ports.py`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from functools import partial

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from PIL import Image

from .. import imaging
from ..config import Settings
from ..control import ControlMap, control_map
from ..errors import Cancelled, InvalidParameter
from ..masks import resize_mask
from ..models import ModelSet
from ..schemas import ImageScores, RegionScores, RenderParams, RenderRecipe, StyleHit, Timings
from ..version import __version__
from .balance import DEFAULT_GRID, auto_balance
from .ports import Generated, ImageGenerator, PreviewFn, ProgressFn, Scorer, StyleSource
from .regions import RegionOutcome, decode_region_masks, ip_adapter_inputs, region_recipes, retrieve_regions
from .result import RenderResult


@dataclass(frozen=True)
class RenderRequest:
    """The chain's input: a sketch (upload bytes or an image) and validated parameters."""

    sketch: bytes | Image.Image
    params: RenderParams
    masks: tuple[bytes | Image.Image, ...] = ()  # one per region of `params.regions` (regions.py)
    principal: str = ""  # whose corrections retrieval learns from (styles/feedback.py); "": nobody's
    control: ControlMap | None = None  # already built from `sketch` (an image) with these params: not again

    def __post_init__(self) -> None:
        if not isinstance(self.params, RenderParams):
            raise InvalidParameter("a render request needs RenderParams", field="params")


@dataclass(frozen=True)
class Prepared:
    sketch: Image.Image  # resized for generation
    control_map: ControlMap  # what ControlNet follows, its type, and the lines quality is scored against
    control: Image.Image  # the control map as ControlNet's 3-channel input, built once
    decode_s: float
    edges_s: float
    region_masks: tuple[Image.Image, ...] = ()  # binary, at the render size


@dataclass(frozen=True)
class Retrieved:
    hits: list[StyleHit]
    named: bool  # the user named the styles (no retrieval)
    seconds: float
    regions: tuple[list[StyleHit], ...] = ()  # the hits of each region's prompt


@dataclass(frozen=True)
class Planned:
    request: RenderRequest
    prepared: Prepared
    retrieved: Retrieved


@dataclass(frozen=True)
class Rendered:
    planned: Planned
    params: RenderParams  # seed filled in, auto-balance's strengths applied
    used: list[StyleHit]  # the styles that drove the IP-Adapter, with their weights
    fallback: str | None  # why no style was used, when none was
    generated: Generated
    embed_s: float
    balance: dict | None
    started: float  # perf_counter at the start of `generate`
    regions: RegionOutcome | None = None


@dataclass(frozen=True)
class Parts:
    """The loaded collaborators of a chain."""

    library: StyleSource
    renderer: ImageGenerator
    scorer: Scorer
    settings: Settings
    models: ModelSet | None = None


def controls(config: RunnableConfig | None) -> tuple[ProgressFn | None, threading.Event | None, PreviewFn | None]:
    """The progress callback, cancel event and preview callback a caller put in the config."""
    configurable = (config or {}).get("configurable") or {}
    return configurable.get("progress"), configurable.get("cancel"), configurable.get("preview")


def step_callback(progress: ProgressFn | None, cancel: threading.Event | None, total: int, offset: int = 0):
    """diffusers' `callback_on_step_end`: progress after each step, cancellation between steps."""

    def on_step_end(pipe, step, timestep, callback_kwargs):
        if progress is not None:
            progress(offset + step + 1, total)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the render was cancelled")
        return callback_kwargs

    return on_step_end


# ------------------------------------------------------------------------------------ steps
def prepare(request: RenderRequest, *, settings: Settings, models: ModelSet | None = None) -> Prepared:
    t0 = time.perf_counter()
    params = request.params
    if isinstance(request.sketch, bytes | bytearray):
        # region masks are the full sketch's size: then the sketch is decoded at full size too
        at_least = None if request.masks else params.size
        image = imaging.decode_upload(bytes(request.sketch), settings.limits, at_least=at_least)
    else:
        image = request.sketch.convert("RGB")
    masks = decode_region_masks(request.masks, params, sketch_size=image.size, limits=settings.limits)
    image = imaging.resize_for_generation(image, params.size)
    masks = tuple(resize_mask(m, image.size) for m in masks)
    t1 = time.perf_counter()
    built = request.control if isinstance(request.sketch, Image.Image) else None
    if built is None:
        built = control_map(
            image,
            params.control,
            simplify_strength=params.simplify,
            canny_low=params.canny_low,
            canny_high=params.canny_high,
            available=models.control_types if models is not None else ("canny",),
        )
    return Prepared(image, built, built.control_image(), t1 - t0, time.perf_counter() - t1, masks)


def plan(request: RenderRequest, *, parts: Parts) -> Planned:
    """The sketch prepared, then the styles retrieved (see the module docstring for why not in parallel)."""
    prepared = prepare(request, settings=parts.settings, models=parts.models)
    return Planned(request, prepared, retrieve(request, library=parts.library))


def retrieve(request: RenderRequest, *, library: StyleSource) -> Retrieved:
    t0 = time.perf_counter()
    params = request.params
    if params.style_ids:
        hits = [StyleHit(style=library.get(i), score=1.0) for i in dict.fromkeys(params.style_ids)]
        return Retrieved(hits, True, time.perf_counter() - t0)
    if params.style_mode == "none" or len(library) == 0:
        return Retrieved([], False, 0.0, tuple([] for _ in params.regions))
    hits = library.search(params.prompt, k=params.top_k, principal=request.principal)
    regions = tuple(retrieve_regions(params, library, request.principal))
    return Retrieved(hits, False, time.perf_counter() - t0, regions)


def generate(planned: Planned, config: RunnableConfig, *, parts: Parts) -> Rendered:
    progress, cancel, preview = controls(config)
    started = time.perf_counter()
    params = planned.request.params
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
    params = params.model_copy(update={"seed": seed})
    settings = parts.settings
    choose = partial(
        select_styles,
        params=params,
        min_score=params.min_style_score if params.min_style_score is not None else settings.min_style_score,
        temperature=params.blend_temperature or settings.blend_temperature,
    )
    used, fallback = choose(planned.retrieved)
    t_embed = time.perf_counter()
    embeds = style_embedding(parts.library, parts.renderer, used) if used else None
    ip_masks, regions = None, None
    if params.regions:
        embeds, ip_masks, regions = style_regions(planned, params, embeds, choose, parts)
    embed_s = time.perf_counter() - t_embed
    balance = None
    if params.auto_balance:
        params, balance = balance_strengths(parts, planned.prepared, params, embeds, used, cancel)
    prepared = planned.prepared
    generated = parts.renderer.generate(
        prepared.control,
        params,
        seed=seed,
        control_type=prepared.control_map.kind,
        style_embeds=embeds,
        progress=progress,
        cancel=cancel,
        preview=preview,
        ip_masks=ip_masks,
    )
    return Rendered(planned, params, used, fallback, generated, embed_s, balance, started, regions)


def style_regions(planned: Planned, params: RenderParams, global_embeds, choose, parts: Parts):
    """Each region's styles (the same selection and fallback rules as the global style), and the
    IP-Adapter's inputs: one image per styled region, the global style on the background."""
    hits, used, fallbacks, embeds = planned.retrieved.regions, [], [], []
    for found in hits:
        chosen, why = choose(Retrieved(list(found), False, 0.0))
        used.append(chosen)
        fallbacks.append(why)
        embeds.append(style_embedding(parts.library, parts.renderer, chosen) if chosen else None)
    masks = planned.prepared.region_masks
    ip_embeds, ip_masks = ip_adapter_inputs(global_embeds, embeds, masks)
    recipes = region_recipes(params, masks, hits, used, fallbacks)
    return ip_embeds, ip_masks, RegionOutcome(recipes, masks, used)


def score(rendered: Rendered, config: RunnableConfig, *, parts: Parts) -> RenderResult:
    """Quality scores of every image, then the recipe (built once, here). With `defer_scores` in
    the config the recipe has no scores yet and the result carries the scoring to run later."""
    t0 = time.perf_counter()
    prepared, retrieved = rendered.planned.prepared, rendered.planned.retrieved
    images = rendered.generated.images
    reference = prepared.control_map.reference  # the sketch's lines for this control type

    def measure() -> list[ImageScores]:
        scores = parts.scorer.score(images, reference, rendered.params.prompt, rendered.used, parts.library)
        if rendered.regions is not None:  # style similarity inside each region, against its own styles
            outcome = rendered.regions
            for image, image_scores in zip(images, scores, strict=True):
                image_scores.regions = [
                    RegionScores(
                        prompt=r.prompt, style_similarity=parts.scorer.region_similarity(image, m, u, parts.library)
                    )
                    for r, m, u in zip(outcome.recipes, outcome.masks, outcome.used, strict=True)
                ]
        return scores

    defer = bool(((config or {}).get("configurable") or {}).get("defer_scores"))
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
    models = parts.models
    recipe = RenderRecipe(
        params=rendered.params,
        seed=rendered.params.seed,
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
        device=parts.renderer.device,
        dtype=parts.renderer.dtype_name,
        timings=timings,
        scores=scores,
        balance=rendered.balance,
        regions=rendered.regions.recipes if rendered.regions is not None else [],
        version=__version__,
    )
    return RenderResult(
        images=images,
        control_image=prepared.control,
        sketch=prepared.sketch,
        recipe=recipe,
        pending_scores=measure if defer else None,
    )


def _model_ids(models: ModelSet | None, control_type: str) -> dict[str, str]:
    """The recipe's model names: the profile, each component, and the ControlNet actually used."""
    if models is None:
        return {}
    return {"profile": models.profile, **models.ids(), "controlnet": models.controlnet_id(control_type)}


# ------------------------------------------------------------------------- style selection
def select_styles(
    retrieved: Retrieved, params: RenderParams, *, min_score: float, temperature: float
) -> tuple[list[StyleHit], str | None]:
    """Which styles drive the IP-Adapter, with their weights; or none and the reason why.
    Named styles share equally; a blend weighs the relevant hits by softmax(fused score / temperature)."""
    hits = retrieved.hits
    if params.style_mode == "none":
        return [], "style mode is 'none' (text and sketch only)"
    if not hits:
        return [], "the style library is empty"
    if retrieved.named:
        weight = 1.0 / len(hits)
        return [h.model_copy(update={"weight": weight}) for h in hits], None
    best = hits[0]
    if not best.is_relevant(min_score):
        return [], (
            f"the best style match, {best.style.title!r}, has CLIP similarity {best.cosine:.3f} below the "
            f"minimum {min_score:.2f} and no word of the prompt matched it; rendered from text only"
        )
    if not params.blend:
        return [best.model_copy(update={"weight": 1.0})], None
    relevant = [h for h in hits if h.is_relevant(min_score)]
    exps = [math.exp((h.score - relevant[0].score) / temperature) for h in relevant]
    return [h.model_copy(update={"weight": e / sum(exps)}) for h, e in zip(relevant, exps, strict=True)], None


def style_embedding(library: StyleSource, renderer: ImageGenerator, used: list[StyleHit]):
    """The (blended) IP-Adapter embedding of the used styles (each kept once computed: caches.py)."""
    embeds = [renderer.caches.style_embed(hit.id, library, renderer) for hit in used]
    return renderer.mix(embeds, [h.weight or 0.0 for h in used])


def balance_strengths(
    parts: Parts,
    prepared: Prepared,
    params: RenderParams,
    embeds,
    used: list[StyleHit],
    cancel: threading.Event | None,
) -> tuple[RenderParams, dict]:
    """Probe a grid of (control, style) strengths at few steps; keep the best pair (balance.py)."""
    ids, shares = [h.id for h in used], [h.weight or 0.0 for h in used]

    def probe(p: RenderParams) -> list[Image.Image]:
        kind = prepared.control_map.kind
        return parts.renderer.generate(
            prepared.control, p, seed=params.seed, control_type=kind, style_embeds=embeds, cancel=cancel
        ).images

    def probe_score(image: Image.Image) -> tuple[float, float | None]:
        return parts.scorer.probe_score(prepared.control_map.reference, image, ids, shares, parts.library)

    grid = DEFAULT_GRID if used else (DEFAULT_GRID[0], (params.style_strength,))  # no style: one axis
    control, style, report = auto_balance(probe, probe_score, params, grid=grid, threshold=parts.scorer.threshold)
    return params.model_copy(update={"control_strength": control, "style_strength": style}), report


# ------------------------------------------------------------------------------------ chain
def build_chain(parts: Parts) -> Runnable[RenderRequest, RenderResult]:
    """plan (prepare, retrieve) → generate → score, as one LCEL runnable."""
    return (
        RunnableLambda(partial(plan, parts=parts), name="plan")
        | RunnableLambda(partial(generate, parts=parts), name="generate")
        | RunnableLambda(partial(score, parts=parts), name="score")
    )
