"""Reciprocal rank fusion over any number of named, weighted ranked lists, vectorised with numpy.

Each retriever (CLIP vectors, BM25 words, and whatever comes next) hands over a `RankedList`: its
name, its candidate ids best first, its own scores in the same order, and a weight. `fuse` gives
each id  sum over lists of  weight × strength / (k + rank)  divided by its best possible value,
so scores lie in [0, 1] whatever the lists' own scales. `strength` (1 unless a list sets it) is how
much of its rank term a candidate earns: the "evidence" design (`DESIGNS`) gives a lexical match
its share of the query's information squared (lexical.py `coverage`), so one common word of a long
prompt no longer counts like a match of the whole prompt (unless the words are a phrase the user
taught for that style: evidence.py), and agreement.py lets a style that BM25 and caption meaning
both rank first lead. No Python loop over candidates: ids are
mapped to one index with `np.unique`, contributions summed with `np.bincount`, the order taken with
one `np.lexsort`. Not here: where the lists come from (search.py, lexical.py, learning.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

RRF_K = 60
_DIGITS = 6  # fused scores are compared (and reported) rounded to this many digits


@dataclass(frozen=True)
class Design:
    """A fusion design (benchmarks/results.md, "Fusion by evidence", says how each was measured).
    `k`: RRF's k (S2R_RRF_K overrides it); `coverage_power`: a lexical match's rank term is scaled by
    its query coverage to this power (0: not scaled); `english_stop`: BM25 leaves out English stop
    words; `feedback_scale`: multiplies the feedback list's weight; `learned_phrase`: a match holding
    at least this many of the style's learned words (a phrase of the user's own corrections) is not
    scaled by its coverage (0: always scaled); `agreement`: when BM25 and caption meaning rank the
    same style first, it leads the fused ranking unless feedback votes against it (agreement.py)."""

    name: str
    k: int
    coverage_power: float
    english_stop: bool
    feedback_scale: float
    learned_phrase: int = 0
    agreement: bool = False


DESIGNS = {
    "evidence": Design(
        "evidence", k=5, coverage_power=2.0, english_stop=True, feedback_scale=2.0, learned_phrase=2, agreement=True
    ),
    "rrf": Design("rrf", k=RRF_K, coverage_power=0.0, english_stop=False, feedback_scale=1.0),  # the one before
}


@dataclass(frozen=True)
class RankedList:
    """One retriever's candidates: `ids` best first, `scores` (its own scale) in the same order."""

    name: str
    ids: np.ndarray  # str, rank order
    scores: np.ndarray  # float64, same order
    weight: float = 1.0
    strength: np.ndarray | None = None  # per id in [0, 1], same order: a share of the rank term (None: all)

    @classmethod
    def from_scores(cls, name: str, scores: Mapping[str, float], weight: float = 1.0) -> RankedList:
        """Rank a mapping id -> score: best first, ties broken by id (deterministic)."""
        ids = np.array(list(scores), dtype=str)
        values = np.fromiter(scores.values(), dtype=float, count=len(ids))
        return cls.ranked(name, ids, values, weight)

    @classmethod
    def ranked(
        cls, name: str, ids: Sequence[str] | np.ndarray, scores: Sequence[float] | np.ndarray, weight: float = 1.0
    ) -> RankedList:
        """Sort (ids, scores) given in any order: best score first, ties by id."""
        ids, scores = np.asarray(ids, dtype=str), np.asarray(scores, dtype=float)
        order = np.lexsort((ids, -scores)) if len(ids) else np.zeros(0, dtype=int)
        return cls(name, ids[order], scores[order], float(weight))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Fused:
    """The fused ranking: `ids` best first, `scores` in [0, 1] (rounded), and each list's own score
    of each returned id in `by_list[name]` (NaN where the list did not have it)."""

    ids: np.ndarray
    scores: np.ndarray
    by_list: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.ids.tolist(), self.scores.tolist(), strict=True))


def fuse(lists: Sequence[RankedList], k: int = RRF_K) -> Fused:
    """RRF of `lists`: score(id) = Σ w / (k + rank) / (Σ w / (k + 1)), the sum of the weights over
    every list given (an empty list still counts: a query without word matches tops out below 1).
    Order: fused score (rounded to 6 digits), then the first list's own score (absent last), then id."""
    best = sum(r.weight for r in lists) / (k + 1) or 1.0  # every list counts, even an empty one
    lists = [r for r in lists if len(r)]
    if not lists:
        return Fused(np.zeros(0, dtype=str), np.zeros(0), {})
    every = np.concatenate([r.ids for r in lists])
    unique, where = np.unique(every, return_inverse=True)
    contributions = np.concatenate([_terms(r, k) for r in lists])
    fused = np.round(np.bincount(where, weights=contributions, minlength=len(unique)) / best, _DIGITS)
    own: dict[str, np.ndarray] = {}
    start = 0
    for r in lists:  # one vector per list (a handful), never one step per candidate
        column = np.full(len(unique), np.nan)
        column[where[start : start + len(r)]] = r.scores
        own.setdefault(r.name, column)
        start += len(r)
    first = own[lists[0].name]
    order = np.lexsort((unique, -np.nan_to_num(first, nan=-np.inf), -fused))
    return Fused(unique[order], fused[order], {name: column[order] for name, column in own.items()})


def _terms(ranked: RankedList, k: int) -> np.ndarray:
    """A list's rank terms: weight (× strength) / (k + rank)."""
    terms = ranked.weight / (k + np.arange(1, len(ranked) + 1, dtype=float))
    return terms if ranked.strength is None else terms * ranked.strength
