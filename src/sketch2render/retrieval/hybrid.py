"""The two retrievers' answers as ranked lists, and the hits of a fused ranking (library.py searches).

`dense_list` turns Chroma's ids and cosine distances into the "dense" `RankedList`; `build_hits`
builds `StyleHit`s for the best fused ids only (each list's own score read from `Fused.by_list`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..schemas import StyleHit, StyleRecord
from .fusion import Fused, RankedList

if TYPE_CHECKING:
    from chromadb.api.types import QueryResult

DENSE, LEXICAL = "dense", "lexical"


def dense_list(found: QueryResult, records: Mapping[str, StyleRecord], weight: float) -> RankedList:
    """Chroma's answer (ids, cosine distances) as the "dense" ranked list, committed styles only."""
    ids, distances = found["ids"][0], (found["distances"] or [[]])[0]
    keep = [j for j, i in enumerate(ids) if i in records]  # the n candidates: one set lookup each
    cosine = 1.0 - np.asarray(distances, dtype=float)[keep]
    return RankedList.ranked(DENSE, np.asarray(ids, dtype=str)[keep], cosine, weight)


def build_hits(
    fused: Fused,
    records: Mapping[str, StyleRecord],
    k: int,
    min_score: float | None,
    extra: Callable[[str], dict] | None = None,
) -> list[StyleHit]:
    """StyleHits for the best `k` fused ids that pass `min_score` (built only for what is returned);
    `extra(id)`: more StyleHit fields (the learned lists' caption, feedback and explanation)."""
    n = len(fused)
    cosine = fused.by_list.get(DENSE, np.full(n, np.nan))
    lexical = np.nan_to_num(fused.by_list.get(LEXICAL, np.zeros(n)), nan=0.0)
    hits: list[StyleHit] = []
    for j, style_id in enumerate(fused.ids.tolist()):
        hit = StyleHit(
            style=records[style_id],
            score=float(fused.scores[j]),
            cosine=None if np.isnan(cosine[j]) else round(float(cosine[j]), 6),
            lexical=round(float(lexical[j]), 6),
            **(extra(style_id) if extra is not None else {}),
        )
        if min_score is None or hit.is_relevant(min_score):
            hits.append(hit)
            if len(hits) == k:
                break
    return hits
