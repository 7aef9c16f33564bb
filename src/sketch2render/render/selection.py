"""Which styles a render may use and which drive it: the render's scope (owner, licence, collection), the
styles a request named checked against it, the selection and weights of the retrieved ones (or the
reason for none), and what the used styles go into the generator as."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from ..config import Settings
from ..errors import InvalidParameter
from ..schemas import RenderParams, StyleHit
from ..styles.scope import StyleScope
from .ports import ImageGenerator, StyleSource
from .stages import RenderRequest, Retrieved


def render_scope(request: RenderRequest, library: StyleSource, *, commercial_only: bool = False) -> StyleScope:
    """The styles a render may use: the caller's and the team's, only commercially usable ones when
    the request or the server (`S2R_COMMERCIAL_ONLY`) says so, only a collection's when it names one."""
    params = request.params
    ids = library.collection_ids(params.collection, request.principal) if params.collection else None
    return StyleScope(request.principal, commercial_only or params.commercial_only, ids, params.collection or "")


def named_styles(ids: list[str], library: StyleSource, scope: StyleScope) -> list[StyleHit]:
    """The styles a request named, each checked against its scope (422 naming `style_ids` and the style)."""
    hits = []
    for style_id in dict.fromkeys(ids):
        record = library.get(style_id)
        if (why := scope.refusal(record)) is not None:
            raise InvalidParameter(f"style_ids: {why}", field="style_ids")
        hits.append(StyleHit(style=record, score=1.0))
    return hits


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


def style_choice(params: RenderParams, settings: Settings) -> Callable[[Retrieved], tuple[list[StyleHit], str | None]]:
    """`select_styles` with this request's thresholds (its own, else the server's): for the global
    style, each region's and an edit's."""
    return partial(
        select_styles,
        params=params,
        min_score=params.min_style_score if params.min_style_score is not None else settings.min_style_score,
        temperature=params.blend_temperature or settings.blend_temperature,
    )


def style_embedding(library: StyleSource, renderer: ImageGenerator, used: list[StyleHit]):
    """What the used styles go in as (`ImageGenerator.style_input`): the (blended) IP-Adapter embedding,
    each style kept once computed (caches.py); a reference family's ordered style images."""
    return renderer.style_input(library, used)
