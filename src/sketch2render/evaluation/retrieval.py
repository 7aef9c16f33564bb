"""Measure retrieval on labelled queries, before and after replaying training corrections.

Queries (TSV): `query <TAB> style <TAB> kind`, the style named by id or exact title; the kind
groups the report (the bundled set: `words` shares a word with its style's training query,
`paraphrase` shares none). Training corrections (TSV): `prompt <TAB> style <TAB> signal`
(`chosen` when left out). Three rankings of each test query:

    today      CLIP + BM25 only (the learned lists' weights 0)
    captions   + the caption-meaning list (sentence model)
    feedback   + the feedback list after replaying the corrections (a throw-away principal)

and per ranking and kind: top-1, top-3 and MRR (over the whole library). The bundled set lies
in `sketch2render/data/retrieval/` (train.tsv, test.tsv). Nothing is left behind in the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidParameter
from ..retrieval.search import HybridSearch
from ..retrieval.signals import SIGNALS
from ..styles.library import StyleLibrary

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "retrieval"


@dataclass(frozen=True)
class Labelled:
    text: str
    style_id: str
    kind: str  # a query's group, or a correction's signal


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
        rows.append(Labelled(parts[0], style, parts[2] if len(parts) > 2 and parts[2] else default_kind))
    if not rows:
        raise InvalidParameter(f"{path} holds no labelled query", field="queries")
    return rows


def _scores(search: HybridSearch, queries: list[Labelled], principal: str) -> dict[str, dict[str, float]]:
    k = min(100, max(1, len(search.library)))
    ranks: dict[str, list[int | None]] = {}
    for query in queries:
        ids = [hit.id for hit in search.search(query.text, k, principal=principal)]
        rank = ids.index(query.style_id) + 1 if query.style_id in ids else None
        for group in ("all", query.kind):
            ranks.setdefault(group, []).append(rank)
    return {
        group: {
            "queries": len(found),
            "top1": sum(r == 1 for r in found) / len(found),
            "top3": sum(r is not None and r <= 3 for r in found) / len(found),
            "mrr": sum(1.0 / r for r in found if r) / len(found),
        }
        for group, found in ranks.items()
    }


def evaluate_retrieval(
    search: HybridSearch, queries: list[Labelled], train: list[Labelled] | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """{ranking: {kind: {queries, top1, top3, mrr}}} for today / captions / feedback (with train)."""
    learning = search.learning
    if learning is None:
        return {"today": _scores(search, queries, "")}
    weights = learning.caption_weight
    try:
        learning.caption_weight = 0.0
        report = {"today": _scores(search, queries, "")}
    finally:
        learning.caption_weight = weights
    if weights > 0:
        report["captions"] = _scores(search, queries, "")
    if train:
        for item in train:
            if item.kind not in SIGNALS:
                raise InvalidParameter(f"a training signal must be one of {', '.join(SIGNALS)}", field="train")
        principal = f"eval-{uuid.uuid4().hex[:12]}"  # a throw-away principal: nobody's real signals
        store = learning.feedback.store
        try:
            for item in train:
                store.add(principal, item.text, item.style_id, item.kind, source="eval")
            report["feedback"] = _scores(search, queries, principal)
        finally:
            store.reset(principal)
    return report
