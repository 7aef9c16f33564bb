"""The fusion candidates `python -m benchmarks fusion` compares (fusion.py gathers the lists).

Each candidate fuses one `Case` (one query in one state: every list's own scores over the whole
library) the way search.py + learning.py + agreement.py would, so the chosen one can be checked to
rank exactly as `HybridSearch` does. The families: RRF with the lexical term × coverage ** power
(a match holding at least `phrase` learned words counted whole), then the caption and the signed
feedback lists; guards that let one list's first lead (`agreement`: BM25 and caption meaning agree;
`majority`: two of BM25, caption and feedback agree; `decisive`: BM25's first far ahead of its
second while caption meaning is unsure; `disagreement`: no two lists share a style in their top n,
then the list whose first is furthest ahead of its second leads); normalised-score fusion; a
meaning-first rerank of the fused top 5.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("shares-word", "no-shared-word", "decoy-word")
STATES = ("captions", "feedback")
VARIANTS = {
    "basic": (False, 0),
    "english": (True, 0),
    "english, df floor 1": (True, 1),
}


@dataclass
class Case:
    """One query in one state: each list's own scores (the style ids of the whole library)."""

    text: str
    style: str
    kind: str
    fold: int | None
    caption: dict[str, float]
    votes: dict[str, float]
    # variant -> ids (BM25 order), BM25 scores, coverage, learned words held, in that order
    lexical: dict[str, tuple[list[str], list[float], list[float], list[int]]]
    dense: dict[str, float] = field(default_factory=dict)


Fusion = Callable[[Case], dict[str, float]]
Guard = Callable[[Case, dict[str, float]], dict[str, float]]


def rank_of(scores: dict[str, float]) -> dict[str, int]:
    return {i: r for r, i in enumerate(sorted(scores, key=lambda i: (-scores[i], i)), start=1)}


def order(fused: dict[str, float], case: Case) -> list[str]:
    return sorted(fused, key=lambda i: (-round(fused[i], 6), -case.dense.get(i, -9.0), i))


def rrf(
    variant: str = "basic",
    k: int = 60,
    power: float = 0.0,
    feedback_scale: float = 1.0,
    phrase: int = 0,
    guard: Guard | None = None,
) -> Fusion:
    """RRF as search.py + learning.py compute it: the lexical term × coverage ** power (1 for a match
    holding `phrase` or more learned words, when `phrase` > 0), then the caption and (signed) feedback
    lists, over the best possible score; then `guard`."""

    def fuse(case: Case) -> dict[str, float]:
        ids, _scores, coverage, learned = case.lexical[variant]
        raw: dict[str, float] = {}
        for r, (i, c, n) in enumerate(zip(ids, coverage, learned, strict=True), start=1):
            strength = 1.0 if (phrase and n >= phrase) or not power else c**power
            raw[i] = raw.get(i, 0.0) + strength / (k + r)
        fused = {i: round(s * (k + 1), 6) / (k + 1) for i, s in raw.items()}
        cw, fw = (1.0 if case.caption else 0.0), (feedback_scale if case.votes else 0.0)
        for i, r in rank_of(case.caption).items():
            fused[i] = fused.get(i, 0.0) + cw / (k + r)
        for sign in (1, -1):
            side = {i: abs(v) for i, v in case.votes.items() if v * sign > 0 and (sign > 0 or i in fused)}
            for i, r in rank_of(side).items():
                fused[i] = fused.get(i, 0.0) + sign * fw * side[i] / (k + r)
        out = {i: s * (k + 1) / (1 + cw + 3 * fw) for i, s in fused.items()}
        return guard(case, out) if guard is not None else out

    return fuse


def _lead(fused: dict[str, float], style: str) -> dict[str, float]:
    return {**fused, style: max(fused.values()) + 1.0}


def _firsts(case: Case) -> dict[str, tuple[list[str], list[float]]]:
    """Each list's order and scores (BM25, caption, feedback votes for)."""
    lists = {}
    ids, scores = case.lexical["english"][0], case.lexical["english"][1]
    if ids:
        lists["bm25"] = (ids, scores)
    for name, values in (("caption", case.caption), ("feedback", {i: v for i, v in case.votes.items() if v > 0})):
        if values:
            ranked = sorted(values, key=lambda i: (-values[i], i))
            lists[name] = (ranked, [values[i] for i in ranked])
    return lists


def agreement(case: Case, fused: dict[str, float]) -> dict[str, float]:
    """BM25 and caption meaning rank the same style first, and feedback does not vote against it."""
    lists = _firsts(case)
    if "bm25" in lists and "caption" in lists and lists["bm25"][0][0] == lists["caption"][0][0]:
        first = lists["bm25"][0][0]
        if case.votes.get(first, 0.0) >= 0:
            return _lead(fused, first)
    return fused


def majority(case: Case, fused: dict[str, float]) -> dict[str, float]:
    """Two of the three lists (BM25, caption, feedback) rank the same style first."""
    firsts = Counter(ranked[0] for ranked, _ in _firsts(case).values())
    if firsts and (top := firsts.most_common(1)[0])[1] >= 2:
        return _lead(fused, top[0])
    return fused


def decisive(ratio: float, unsure: float) -> Guard:
    """BM25's first scores at least `ratio` × its second, caption meaning's best cosine is under `unsure`."""

    def guard(case: Case, fused: dict[str, float]) -> dict[str, float]:
        ids, scores = case.lexical["english"][0], case.lexical["english"][1]
        second = scores[1] if len(scores) > 1 else 0.0
        if ids and scores[0] >= ratio * second and max(case.caption.values(), default=0.0) < unsure:
            return _lead(fused, ids[0])
        return fused

    return guard


def disagreement(top: int) -> Guard:
    """No two lists share a style in their top `top`: the list whose first is furthest ahead of its
    second (score ratio) leads."""

    def guard(case: Case, fused: dict[str, float]) -> dict[str, float]:
        lists = _firsts(case)
        tops = [set(ranked[:top]) for ranked, _ in lists.values()]
        if len(lists) < 2 or any(a & b for j, a in enumerate(tops) for b in tops[j + 1 :]):
            return fused

        def ahead(item: tuple[list[str], list[float]]) -> float:
            scores = item[1]
            return scores[0] / scores[1] if len(scores) > 1 and scores[1] > 0 else float("inf")

        return _lead(fused, max(lists.values(), key=ahead)[0][0])

    return guard


def scores(variant: str = "english", lexical: float = 0.2, feedback: float = 0.5) -> Fusion:
    """Normalised-score fusion: caption cosine + lexical × coverage + feedback × vote / 3."""

    def fuse(case: Case) -> dict[str, float]:
        out = dict(case.caption)
        for i, c in zip(case.lexical[variant][0], case.lexical[variant][2], strict=True):
            out[i] = out.get(i, 0.0) + lexical * c
        for i, v in case.votes.items():
            out[i] = out.get(i, 0.0) + feedback * v / 3
        return out

    return fuse


def meaning_first(base: Fusion, top: int = 5) -> Fusion:
    """The `top` of a fused ranking reordered by caption meaning plus feedback; the rest as fused."""

    def fuse(case: Case) -> dict[str, float]:
        fused = base(case)
        return {
            i: (10 + case.caption.get(i, 0.0) + case.votes.get(i, 0.0) / 3) if j < top else fused[i]
            for j, i in enumerate(order(fused, case))
        }

    return fuse


BEFORE = "rrf k 60 (the design before)"
EVIDENCE_1 = "rrf × coverage², k 5, feedback × 2 (evidence, first version)"
CHOSEN = "evidence + agreement + learned phrase (evidence)"  # HybridSearch's default: fusion.DESIGNS
CANDIDATES: dict[str, Fusion] = {
    BEFORE: rrf(),
    "rrf + English stop words": rrf("english"),
    "rrf + English stop words + learned-word df floor 1": rrf("english, df floor 1"),
    "rrf k 5": rrf(k=5),
    "rrf × coverage, k 60": rrf("english", 60, 1.0),
    "rrf × coverage², k 60": rrf("english", 60, 2.0),
    "rrf × coverage, k 5": rrf("english", 5, 1.0),
    "rrf × coverage², k 5": rrf("english", 5, 2.0),
    EVIDENCE_1: rrf("english", 5, 2.0, 2.0),
    "evidence 1, feedback × 1": rrf("english", 5, 2.0, 1.0),
    "evidence 1, coverage³": rrf("english", 5, 3.0, 2.0),
    "evidence 1 + learned words whole (any)": rrf("english", 5, 2.0, 2.0, phrase=1),
    "evidence 1 + learned phrase (2+ learned words whole)": rrf("english", 5, 2.0, 2.0, phrase=2),
    "evidence 1 + learned phrase of 3+": rrf("english", 5, 2.0, 2.0, phrase=3),
    "evidence 1, feedback × 1 + learned phrase": rrf("english", 5, 2.0, 1.0, phrase=2),
    "evidence 1 + agreement": rrf("english", 5, 2.0, 2.0, guard=agreement),
    CHOSEN: rrf("english", 5, 2.0, 2.0, phrase=2, guard=agreement),
    "evidence 1 + agreement + learned words whole (any)": rrf("english", 5, 2.0, 2.0, phrase=1, guard=agreement),
    "evidence 1, coverage³ + agreement": rrf("english", 5, 3.0, 2.0, guard=agreement),
    "evidence 1, coverage³ + agreement + learned phrase": rrf("english", 5, 3.0, 2.0, phrase=2, guard=agreement),
    "evidence 1, feedback × 1 + agreement": rrf("english", 5, 2.0, 1.0, guard=agreement),
    "evidence 1 + majority of firsts leads": rrf("english", 5, 2.0, 2.0, guard=majority),
    "evidence 1 + decisive BM25 (×2 its second, caption < 0.3)": rrf("english", 5, 2.0, 2.0, guard=decisive(2, 0.3)),
    "evidence 1 + decisive BM25 (×2 its second, caption < 0.4)": rrf("english", 5, 2.0, 2.0, guard=decisive(2, 0.4)),
    "evidence 1 + decisive BM25 (×3 its second, caption < 0.4)": rrf("english", 5, 2.0, 2.0, guard=decisive(3, 0.4)),
    "evidence 1 + disagreement in the top 1: most decisive leads": rrf("english", 5, 2.0, 2.0, guard=disagreement(1)),
    "evidence 1 + disagreement in the top 3: most decisive leads": rrf("english", 5, 2.0, 2.0, guard=disagreement(3)),
    "scores: caption + 0.1 coverage + 0.5 feedback": scores(lexical=0.1),
    "scores: caption + 0.2 coverage + 0.5 feedback": scores(lexical=0.2),
    "meaning-first top 5 of rrf k 60": meaning_first(rrf()),
    "meaning-first top 5 of rrf × coverage, k 60": meaning_first(rrf("english", 60, 1.0)),
}
# k × coverage power × feedback scale × (agreement, learned phrase): the knobs around the chosen one
GRID = [(k, p, f, g) for k in (3, 5, 10) for p in (2.0, 3.0) for f in (1.0, 2.0) for g in (False, True)]
SINGLE: dict[str, Fusion] = {
    "caption": lambda c: dict(c.caption),
    "bm25": lambda c: dict(zip(c.lexical["english"][0], c.lexical["english"][1], strict=True)),
    "feedback": lambda c: {i: v for i, v in c.votes.items() if v > 0},
}
