"""The builder of a library's search: its weights and its learned side, from the settings. The only
place a `HybridSearch` is constructed for the product; the sentence model loads on first use."""

from __future__ import annotations

from ..config import Settings
from ..models import ModelSet
from ..styles.library import StyleLibrary
from .answer_cache import Answers
from .learning import build_learning
from .search import HybridSearch


def build_search(
    settings: Settings, library: StyleLibrary, models: ModelSet | None = None, *, answers: Answers | None = None
) -> HybridSearch:
    """`answers`: the search-answer cache of the render side's `Caches` (render/caches.py); None: one
    of its own while S2R_CACHES is on, none when it is off."""
    if answers is None and settings.caches == "on":
        answers = Answers()
    return HybridSearch(
        library,
        learning=build_learning(settings),
        dense_weight=dense_weight(settings, models),
        lexical_weight=settings.lexical_weight,
        rrf_k=settings.rrf_k,
        answers=answers,
        fusion=settings.fusion,
    )


def dense_weight(settings: Settings, models: ModelSet | None) -> float:
    """The CLIP side's weight in hybrid search. A smoke-test (random) CLIP carries no meaning, so
    unless set explicitly its weight is 0 there and retrieval runs on words alone."""
    if settings.dense_weight is not None:
        return settings.dense_weight
    return 0.0 if models is not None and models.smoke_test else 1.0
