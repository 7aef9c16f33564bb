"""Measure retrieval on labelled queries, before and after replaying training corrections.

Queries (TSV): `query <TAB> style <TAB> kind [<TAB> fold]`, the style named by id or exact title;
the kind groups the report. The bundled sets: test.tsv (`words` shares a word with its style's
training query, `paraphrase` shares none; no word of the style's text in either) and queries.tsv
(`shares-word`, `no-shared-word`, `decoy-word` against the styles' text, and a fold:
query_kinds.py). Training corrections (TSV): `prompt <TAB> style <TAB> signal` (`chosen` when left
out). Three rankings of each test query:

    today      CLIP + BM25 only (the learned lists' weights 0)
    captions   + the caption-meaning list (sentence model)
    feedback   + the feedback list after replaying the corrections (a throw-away principal)

and per ranking and kind: top-1, top-3 and MRR (over the whole library) of the fused ranking, and
under `lists` the same for each single list that ranking fuses (clip, bm25, caption, feedback: each
list's own order, a style it lacks counting as a miss). The bundled set lies in
`sketch2render/data/retrieval/`. Nothing is left behind in the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidParameter
from ..retrieval.search import HybridSearch
from ..retrieval.signals import SIGNALS
from ..styles.library import StyleLibrary
from .query_kinds import REPORT, TUNE

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "retrieval"


@dataclass(frozen=True)
class Labelled:
    text: str
    style_id: str
    kind: str  # a query's group, or a correction's signal
    fold: int | None = None  # the fold of a bundled query (query_kinds.py); None: always used


def read_tsv(path: Path, library: StyleLibrary, default_kind: str) -> list[Labelled]:
    """Rows of a labelled TSV ('#' comments), styles resolved by id or exact title."""
    by_title = {r.title: r.id for r in library.list(0, max(1, len(library)))}
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) < 2 or not parts[0]:
            raise InvalidParameter(f"{path}:{number}: expected query<TAB>style[<TAB>kind]", field="queries")
        style = parts[1] if parts[1] in library else by_title.get(parts[1])
        if style is None:
            raise InvalidParameter(f"{path}:{number}: no style with id or title {parts[1]!r}", field="queries")
        fold = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        rows.append(Labelled(parts[0], style, parts[2] if len(parts) > 2 and parts[2] else default_kind, fold))
    if not rows:
        raise InvalidParameter(f"{path} holds no labelled query", field="queries")
    return rows


FOLD_GROUPS: dict[str, tuple[int, ...] | None] = {"report": REPORT, "tune": TUNE, "all": None}


def in_folds(rows: list[Labelled], folds: str) -> list[Labelled]:
    """The rows of a fold group ("report", "tune", "all"); rows without a fold are always kept."""
    if folds not in FOLD_GROUPS:
        raise InvalidParameter(f"folds must be one of {', '.join(FOLD_GROUPS)}, got {folds!r}", field="folds")
    keep = FOLD_GROUPS[folds]
    return [r for r in rows if r.fold is None or keep is None or r.fold in keep]


def bundled_queries(library: StyleLibrary, folds: str = "report") -> list[Labelled]:
    """The bundled test queries (test.tsv, every row) and labelled queries (queries.tsv, `folds`)."""
    return read_tsv(BUNDLED / "test.tsv", library, "all") + in_folds(
        read_tsv(BUNDLED / "queries.tsv", library, "all"), folds
    )


def _rank(ids: list[str], style_id: str) -> int | None:
    return ids.index(style_id) + 1 if style_id in ids else None


def _measures(found: list[int | None]) -> dict[str, float]:
    return {
        "top1": sum(r == 1 for r in found) / len(found),
        "top3": sum(r is not None and r <= 3 for r in found) / len(found),
        "mrr": sum(1.0 / r for r in found if r) / len(found),
    }


def _scores(
    search: HybridSearch, queries: list[Labelled], principal: str, lists: tuple[str, ...]
) -> dict[str, dict[str, object]]:
    k = min(100, max(1, len(search.library)))
    ranks: dict[str, list[int | None]] = {}
    single: dict[str, dict[str, list[int | None]]] = {}
    for query in queries:
        rank = _rank([hit.id for hit in search.search(query.text, k, principal=principal)], query.style_id)
        own = search.single_lists(query.text, principal)
        for group in ("all", query.kind):
            ranks.setdefault(group, []).append(rank)
            for name in lists:
                single.setdefault(group, {}).setdefault(name, []).append(_rank(own.get(name, []), query.style_id))
    return {
        group: {
            "queries": len(found),
            **_measures(found),
            "lists": {name: _measures(single[group][name]) for name in lists},
        }
        for group, found in ranks.items()
    }


def evaluate_retrieval(
    search: HybridSearch, queries: list[Labelled], train: list[Labelled] | None = None
) -> dict[str, dict[str, dict[str, object]]]:
    """{ranking: {kind: {queries, top1, top3, mrr, lists: {list: {top1, top3, mrr}}}}} for today /
    captions / feedback (with train)."""
    learning = search.learning
    if learning is None:
        return {"today": _scores(search, queries, "", ("clip", "bm25"))}
    weights = learning.caption_weight
    try:
        learning.caption_weight = 0.0
        report = {"today": _scores(search, queries, "", ("clip", "bm25"))}
    finally:
        learning.caption_weight = weights
    learned = ("clip", "bm25", "caption") if weights > 0 else ("clip", "bm25")
    if weights > 0:
        report["captions"] = _scores(search, queries, "", learned)
    if train:
        for item in train:
            if item.kind not in SIGNALS:
                raise InvalidParameter(f"a training signal must be one of {', '.join(SIGNALS)}", field="train")
        principal = f"eval-{uuid.uuid4().hex[:12]}"  # a throw-away principal: nobody's real signals
        store = learning.feedback.store
        try:
            for item in train:
                store.add(principal, item.text, item.style_id, item.kind, source="eval")
            report["feedback"] = _scores(search, queries, principal, (*learned, "feedback"))
        finally:
            store.reset(principal)
    return report
