"""The hybrid search as it was at commit 32f058f (dict-based RRF over two lists, hits built in a
Python loop), kept callable so `retrieval` measures before and after in the same run; and the
search-with-words measurements that interleave the two, and the evidence fusion with the design
before it (`HybridSearch(fusion="rrf")`, ranks only) over the same library."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sketch2render.schemas import StyleHit

from .common import stats_ms


def _rank_of(scores: Mapping[str, float]) -> dict[str, int]:
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return {doc_id: rank for rank, doc_id in enumerate(ordered, start=1)}


def _rrf(dense: Mapping[str, float], lexical: Mapping[str, float], dw: float, lw: float, k: int) -> dict[str, float]:
    best = (dw + lw) / (k + 1) or 1.0
    dense_rank, lexical_rank = _rank_of(dense), _rank_of(lexical)
    fused: dict[str, float] = {}
    for doc_id in set(dense) | set(lexical):
        score = 0.0
        if doc_id in dense_rank:
            score += dw / (k + dense_rank[doc_id])
        if doc_id in lexical_rank:
            score += lw / (k + lexical_rank[doc_id])
        fused[doc_id] = score / best
    return fused


def _lexical_scores(index, query: str, limit: int) -> dict[str, float]:
    """`LexicalIndex.scores(query, None, limit)` as it was: a dict built from the positive scores."""
    from sketch2render.retrieval.lexical import tokenize

    tokens = tokenize(query)
    index.warm()
    if not tokens or not index._ids:
        return {}
    raw = np.asarray(index._bm25.get_scores(tokens), dtype=float)
    ids = index._ids
    positive = np.flatnonzero(raw > 0)
    if len(positive) > limit:
        positive = positive[np.argpartition(-raw[positive], limit - 1)[:limit]]
    return {ids[i]: float(raw[i]) for i in positive}


def hybrid_before(search, vector: Sequence[float], query: str, k: int) -> list[StyleHit]:
    """`StyleLibrary._hybrid(vector, query, k, None, ())` at commit 32f058f (no tag filter), over
    the library and word index of `search` (a `HybridSearch`)."""
    library = search.library
    with library.lock:
        records = library.records()
        n = min(len(records), max(50, 4 * k))
        found = library.collection.query(query_embeddings=[list(vector)], n_results=n, include=["distances"])
        pairs = zip(found["ids"][0], found["distances"][0], strict=True)
        dense = {i: 1.0 - float(d) for i, d in pairs if i in records}
        lexical = _lexical_scores(search._lexical, query, n) if query else {}
        dw, lw, rrf_k = search.weights
        fused = _rrf(dense, lexical, dw, lw, rrf_k)
        ranked = sorted(fused, key=lambda i: (-round(fused[i], 6), -dense.get(i, -2.0), i))
        hits = []
        for i in ranked[:k]:
            hits.append(
                StyleHit(
                    style=records[i],
                    score=round(fused[i], 6),
                    cosine=round(dense[i], 6) if i in dense else None,
                    lexical=round(lexical.get(i, 0.0), 6),
                )
            )
    return hits


def _time_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure_words(search, qs: np.ndarray, words: list[str], count: int, k: int = 5) -> dict[str, Any]:
    """`search.search(text)`: the fake CLIP side + BM25 over titles and tags + RRF, and the same
    search through the code of commit 32f058f (interleaved). Each query word matches about 1 % of
    the styles. The first call builds the BM25 index."""
    first = _time_once(lambda: search.search(words[0], k=k))
    after, before = [], []
    for j, w in enumerate(words[1 : count + 1], start=1):
        vector = qs[j].tolist()
        pair = [
            (after, lambda w=w: search.search(w, k=k)),
            (before, lambda w=w, v=vector: hybrid_before(search, v, w, k)),
        ]
        for times, fn in pair if j % 2 else pair[::-1]:
            times.append(_time_once(fn))
    same = sum(
        [h.id for h in search.search(w, k=k)] == [h.id for h in hybrid_before(search, qs[j].tolist(), w, k)]
        for j, w in enumerate(words[1 : count + 1], start=1)
    )
    return {
        "first_call_ms": round(first * 1000, 3),
        "latency": stats_ms(after),
        "latency_before": stats_ms(before),
        "same_top_k_as_before": f"{same}/{len(words[1 : count + 1])}",
    }


def measure_fusions(search, before, words: list[str], count: int, k: int = 5) -> dict[str, Any]:
    """`search.search(text)` (the evidence fusion: a word match weighed by its query coverage) and
    the same library searched by `before` (fusion="rrf", the design before), interleaved query by
    query; the first call of each builds its BM25 index."""
    first = {"evidence": _time_once(lambda: search.search(words[0], k=k))}
    first["rrf"] = _time_once(lambda: before.search(words[0], k=k))
    times: dict[str, list[float]] = {"evidence": [], "rrf": []}
    for j, w in enumerate(words[1 : count + 1], start=1):
        pair = [("evidence", search), ("rrf", before)]
        for name, engine in pair if j % 2 else pair[::-1]:
            times[name].append(_time_once(lambda engine=engine, w=w: engine.search(w, k=k)))
    latency = {name: stats_ms(values) for name, values in times.items()}
    return {
        "first_call_ms": {name: round(value * 1000, 3) for name, value in first.items()},
        "latency": latency,
        "ratio_evidence_to_rrf_p50": round(latency["evidence"]["p50_ms"] / latency["rrf"]["p50_ms"], 3),
    }
