"""The LCEL chain that joins retrieval to generation, and the style-selection rules between them.

    RunnablePassthrough.assign(prepared=<decode+edges>, styles=<retrieve>) | RunnableLambda(<render>)

Input: {"sketch": bytes | PIL image, "params": RenderParams, "progress": fn | None, "cancel": Event | None}.
Output: a `RenderResult`. The CLI and the API both render through this chain.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from PIL import Image

from . import __version__, imaging
from .errors import InvalidParameter
from .schemas import RenderParams, RenderRecipe, StyleHit, Timings


@dataclass
class Prepared:
    sketch: Image.Image  # resized for generation
    edges: imaging.EdgeMap
    control: Image.Image  # the edge map as ControlNet's 3-channel input, built once
    decode_s: float
    edges_s: float


@dataclass
class Retrieved:
    hits: list[StyleHit]
    named: bool  # the user named the styles (no retrieval)
    seconds: float


def prepare_sketch(sketch: bytes | Image.Image, params: RenderParams, settings: Any) -> Prepared:
    t0 = time.perf_counter()
    if isinstance(sketch, bytes | bytearray):
        image = imaging.decode_image(
            bytes(sketch),
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            max_side=settings.max_side,
            at_least=params.size,
        )
    else:
        image = sketch.convert("RGB")
    image = imaging.resize_for_generation(image, params.size)
    t1 = time.perf_counter()
    edges = imaging.detect_edges(image, low=params.canny_low, high=params.canny_high)
    return Prepared(image, edges, edges.control_image(), t1 - t0, time.perf_counter() - t1)


def retrieve_styles(library: Any, params: RenderParams) -> Retrieved:
    t0 = time.perf_counter()
    if params.style_ids:
        hits = [StyleHit(style=library.get(i), score=1.0) for i in dict.fromkeys(params.style_ids)]
        return Retrieved(hits, True, time.perf_counter() - t0)
    if params.style_mode == "none" or len(library) == 0:
        return Retrieved([], False, 0.0)
    hits = library.search(params.prompt, k=params.top_k)
    return Retrieved(hits, False, time.perf_counter() - t0)


def select_styles(
    retrieved: Retrieved, params: RenderParams, *, min_score: float, temperature: float
) -> tuple[list[StyleHit], str | None]:
    """Which styles drive the IP-Adapter, with their weights; or none and the reason why."""
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


def style_embedding(library: Any, renderer: Any, used: list[StyleHit]):
    """The (blended) IP-Adapter embedding of the used styles; each style encoded once, then cached."""
    embeds = []
    for hit in used:
        cached = library.load_ip_embeds(hit.id, renderer.encoder_key)
        if cached is None:
            cached = renderer.encode_style(library.load_image(hit.id))
            library.save_ip_embeds(hit.id, renderer.encoder_key, cached)
        embeds.append(cached)
    return renderer.mix(embeds, [h.weight or 0.0 for h in used])


def build_chain(library: Any, renderer: Any, settings: Any, models: Any = None, scorer: Any = None) -> Runnable:
    """retrieve (in parallel with decoding the sketch) -> render."""
    model_ids = {"profile": models.profile, **models.ids()} if models is not None else {}
    smoke_test = bool(models is not None and models.smoke_test)

    def render(state: dict) -> Any:
        from .service import RenderResult

        params: RenderParams = state["params"]
        prepared: Prepared = state["prepared"]
        retrieved: Retrieved = state["styles"]
        t_start = time.perf_counter()
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
        params = params.model_copy(update={"seed": seed})
        min_score = params.min_style_score if params.min_style_score is not None else settings.min_style_score
        temperature = params.blend_temperature or settings.blend_temperature
        used, fallback = select_styles(retrieved, params, min_score=min_score, temperature=temperature)
        t_embed = time.perf_counter()
        embeds = style_embedding(library, renderer, used) if used else None
        embed_s = time.perf_counter() - t_embed
        balance = None
        if params.auto_balance and scorer is not None:
            params, balance = balance_strengths(state, params, seed, embeds, used)
        generated = renderer.generate(
            prepared.control,
            params,
            seed=seed,
            style_embeds=embeds,
            progress=state.get("progress"),
            cancel=state.get("cancel"),
        )
        weights = {h.id: h.weight for h in used}
        recipe = RenderRecipe(
            params=params,
            seed=seed,
            width=prepared.sketch.width,
            height=prepared.sketch.height,
            styles=[h.model_copy(update={"weight": weights.get(h.id)}) for h in retrieved.hits],
            fallback_reason=fallback,
            edges={
                "low": prepared.edges.low,
                "high": prepared.edges.high,
                "inverted": prepared.edges.inverted,
                "edge_fraction": round(prepared.edges.edge_fraction, 6),
            },
            models=model_ids,
            smoke_test=smoke_test,
            device=renderer.device,
            dtype=str(renderer.dtype).replace("torch.", ""),
            timings=Timings(
                decode=prepared.decode_s,
                edges=prepared.edges_s,
                retrieval=retrieved.seconds,
                embeds=embed_s,
                denoise=generated.denoise_s,
                vae_decode=generated.vae_decode_s,
            ),
            balance=balance,
            version=__version__,
        )
        result = RenderResult(
            images=generated.images,
            control_image=prepared.control,
            sketch=prepared.sketch,
            recipe=recipe,
        )
        if scorer is not None:
            scorer.score(result, library)
        t = recipe.timings
        t.total = t.decode + t.edges + t.retrieval + (time.perf_counter() - t_start)
        return result

    def balance_strengths(state: dict, params: RenderParams, seed: int, embeds: Any, used: list[StyleHit]):
        """Probe a grid of (control, style) strengths at few steps; keep the best pair (balance.py)."""
        from .balance import DEFAULT_GRID, auto_balance

        prepared: Prepared = state["prepared"]
        ids, shares = [h.id for h in used], [h.weight or 0.0 for h in used]
        control_image = prepared.control

        def probe(p: RenderParams) -> list:
            return renderer.generate(
                control_image, p, seed=seed, style_embeds=embeds, cancel=state.get("cancel")
            ).images

        def probe_score(image) -> tuple[float, float | None]:
            return scorer.probe_score(prepared.edges.edges, image, ids, shares, library)

        grid = DEFAULT_GRID if used else (DEFAULT_GRID[0], (params.style_strength,))  # no style: one axis
        control, style, report = auto_balance(
            probe, probe_score, params, grid=grid, threshold=settings.structure_threshold
        )
        return params.model_copy(update={"control_strength": control, "style_strength": style}), report

    def prepare(state: dict) -> Prepared:
        if not isinstance(state.get("params"), RenderParams):
            raise InvalidParameter("the chain needs RenderParams under 'params'", field="params")
        return prepare_sketch(state["sketch"], state["params"], settings)

    return RunnablePassthrough.assign(
        prepared=RunnableLambda(prepare),
        styles=RunnableLambda(lambda state: retrieve_styles(library, state["params"])),
    ) | RunnableLambda(render)
