"""The fusion designs of hybrid search, chosen by measurement on the bundled labelled queries.

The 21 bundled styles, the tiny CLIP (weight 0: random weights mean nothing) and the REAL sentence
model. Each list is computed once per query by the product code (`Learning.lists`: caption meaning,
feedback votes, learned words; `LexicalIndex.ranked` and `.coverage` under each stop-word set and
learned-word df floor), before and after replaying train.tsv's corrections; the candidates below fuse
them. Every candidate's top-1 / top-3 / MRR per kind is measured on the TUNE folds of queries.tsv
(evaluation/query_kinds.py), with its margin over the best single list of each kind (caption, BM25,
feedback; CLIP is at weight 0 here). The chosen design (the highest mean MRR among those with no
negative margin) and the design before are then measured on the REPORT folds and on test.tsv, which
no choice looked at. `product_check`: the chosen candidate gives the same rank as `HybridSearch`
(fusion="evidence") for every query in both states.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import log

KINDS = ("shares-word", "no-shared-word", "decoy-word")
STATES = ("captions", "feedback")
VARIANTS = {
    "basic": (False, 0),
    "english": (True, 0),
    "english, df floor 1": (True, 1),
    "english, df floor 2": (True, 2),
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
    lexical: dict[str, tuple[list[str], list[float], list[float]]]  # variant -> ids, BM25, coverage
    dense: dict[str, float]


Fusion = Callable[[Case], dict[str, float]]


def _rank_of(scores: dict[str, float]) -> dict[str, int]:
    return {i: r for r, i in enumerate(sorted(scores, key=lambda i: (-scores[i], i)), start=1)}


def rrf(variant: str = "basic", k: int = 60, power: float = 0.0, feedback_scale: float = 1.0) -> Fusion:
    """RRF as search.py + learning.py compute it: the lexical term × coverage ** power, then the
    caption and (signed) feedback lists, over the best possible score."""

    def fuse(case: Case) -> dict[str, float]:
        ids, _scores, coverage = case.lexical[variant]
        raw: dict[str, float] = {}
        for r, (i, c) in enumerate(zip(ids, coverage, strict=True), start=1):
            raw[i] = raw.get(i, 0.0) + (c**power if power else 1.0) / (k + r)
        fused = {i: round(s * (k + 1), 6) / (k + 1) for i, s in raw.items()}
        cw, fw = (1.0 if case.caption else 0.0), (feedback_scale if case.votes else 0.0)
        for i, r in _rank_of(case.caption).items():
            fused[i] = fused.get(i, 0.0) + cw / (k + r)
        for sign in (1, -1):
            side = {i: abs(v) for i, v in case.votes.items() if v * sign > 0 and (sign > 0 or i in fused)}
            for i, r in _rank_of(side).items():
                fused[i] = fused.get(i, 0.0) + sign * fw * side[i] / (k + r)
        return {i: s * (k + 1) / (1 + cw + 3 * fw) for i, s in fused.items()}

    return fuse


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
        order = _order(fused, case)
        return {
            i: (10 + case.caption.get(i, 0.0) + case.votes.get(i, 0.0) / 3) if j < top else fused[i]
            for j, i in enumerate(order)
        }

    return fuse


CANDIDATES: dict[str, Fusion] = {
    "rrf k 60 (the design before)": rrf(),
    "rrf + English stop words": rrf("english"),
    "rrf + English stop words + learned-word df floor 1": rrf("english, df floor 1"),
    "rrf k 5": rrf(k=5),
    "rrf × coverage, k 60": rrf("english", 60, 1.0),
    "rrf × coverage², k 60": rrf("english", 60, 2.0),
    "rrf × coverage, k 5": rrf("english", 5, 1.0),
    "rrf × coverage, k 1": rrf("english", 1, 1.0),
    "rrf × coverage², k 5": rrf("english", 5, 2.0),
    "rrf × coverage², k 5, feedback × 2 (evidence)": rrf("english", 5, 2.0, 2.0),
    "rrf × coverage², k 5, feedback × 2, df floor 1": rrf("english, df floor 1", 5, 2.0, 2.0),
    "rrf × coverage², k 5, feedback × 2, basic stop words": rrf("basic", 5, 2.0, 2.0),
    "scores: caption + 0.1 coverage + 0.5 feedback": scores(lexical=0.1),
    "scores: caption + 0.2 coverage + 0.5 feedback": scores(lexical=0.2),
    "scores: caption + 0.5 coverage + 0.5 feedback": scores(lexical=0.5),
    "meaning-first top 5 of rrf k 60": meaning_first(rrf()),
    "meaning-first top 5 of rrf × coverage, k 60": meaning_first(rrf("english", 60, 1.0)),
}
GRID = [(k, p, f) for k in (3, 5, 10, 20) for p in (1.0, 2.0, 3.0) for f in (1.0, 2.0)]
SINGLE: dict[str, Fusion] = {
    "caption": lambda c: dict(c.caption),
    "bm25": lambda c: dict(zip(c.lexical["english"][0], c.lexical["english"][1], strict=True)),
    "feedback": lambda c: {i: v for i, v in c.votes.items() if v > 0},
}


def _order(fused: dict[str, float], case: Case) -> list[str]:
    return sorted(fused, key=lambda i: (-round(fused[i], 6), -case.dense.get(i, -9.0), i))


def _rank(fusion: Fusion, case: Case) -> int | None:
    order = _order(fusion(case), case)
    return order.index(case.style) + 1 if case.style in order else None


def _measures(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "top1": round(sum(r == 1 for r in ranks) / n, 3),
        "top3": round(sum(r is not None and r <= 3 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def _table(fusion: Fusion, cases: dict[str, list[tuple[Case, Case]]]) -> dict[str, dict[str, dict[str, float]]]:
    return {
        state: {kind: _measures([_rank(fusion, pair[s]) for pair in rows]) for kind, rows in cases.items()}
        for s, state in enumerate(STATES)
    }


def _margin(table: dict, best: dict) -> float:
    return round(min(table[s][k]["mrr"] - best[s][k] for s in STATES for k in table[s]), 3)


def _gather(tmp: Path, models_dir: str | None) -> tuple[list[tuple[Case, Case]], dict[str, int]]:
    """Both states of every bundled query (test.tsv, queries.tsv), and the product's own ranks."""
    from sketch2render.config import Settings
    from sketch2render.evaluation.retrieval import BUNDLED, read_tsv
    from sketch2render.models import build_tiny, resolve_models
    from sketch2render.models.sentence import packaged_model_dir
    from sketch2render.retrieval import build_search
    from sketch2render.retrieval.lexical import BASIC_STOP, ENGLISH_STOP, LexicalIndex
    from sketch2render.styles import build_embeddings, build_library, import_defaults

    tiny = Path(models_dir) if models_dir else build_tiny(tmp / "tiny")
    settings = Settings(home=tmp / "home", models=str(tiny), device="cpu", sentence_model=packaged_model_dir())
    models = resolve_models(settings)
    library = build_library(settings, build_embeddings(settings, models))
    import_defaults(library)
    search = build_search(settings, library, models)
    records = library.records()
    indexes = {}
    for name, (english, floor) in VARIANTS.items():
        indexes[name] = LexicalIndex(stop=ENGLISH_STOP if english else BASIC_STOP, learned_df_floor=floor)
        for doc_id, record in records.items():
            indexes[name].set(doc_id, record.search_text())
    for item in read_tsv(BUNDLED / "train.tsv", library, "chosen"):
        search.learning.feedback.store.add("bench", item.text, item.style_id, item.kind, source="eval")
    queries = read_tsv(BUNDLED / "test.tsv", library, "all") + read_tsv(BUNDLED / "queries.tsv", library, "all")
    pairs, product = [], {}
    for query in queries:
        found = library.nearest(library.embeddings.embed_query(query.text), len(records), ())
        dense = {i: 1.0 - d for i, d in zip(found["ids"][0], found["distances"][0], strict=True)}
        pair = []
        for state, principal in enumerate(("", "bench")):
            learned = search.learning.lists(query.text, principal, records, None, len(records))
            lexical = {}
            for name, index in indexes.items():
                ranked = index.ranked(query.text, None, None, 1.0, learned.words)
                coverage = index.coverage(query.text, ranked.ids, learned.words)
                lexical[name] = (ranked.ids.tolist(), ranked.scores.tolist(), coverage.tolist())
            votes = {i: v.score for i, v in learned.votes.items()}
            pair.append(
                Case(query.text, query.style_id, query.kind, query.fold, learned.caption, votes, lexical, dense)
            )
            hits = [h.id for h in search.search(query.text, len(records), principal=principal)]
            product[f"{state}|{query.text}"] = hits.index(query.style_id) + 1 if query.style_id in hits else 0
        pairs.append((pair[0], pair[1]))
    search.close()
    library.close()
    return pairs, product


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", help="a built tiny model folder to reuse (else one is built)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.evaluation.query_kinds import REPORT, TUNE

    with tempfile.TemporaryDirectory(prefix="s2r-bench-fusion-") as tmp:
        log("fusion: every list of every bundled query, before and after the corrections")
        pairs, product = _gather(Path(tmp), args.models_dir)

    def split(folds: tuple[int, ...] | None) -> dict[str, list[tuple[Case, Case]]]:
        kinds = KINDS if folds is not None else ("words", "paraphrase")
        chosen = [p for p in pairs if (p[0].fold in folds if folds is not None else p[0].fold is None)]
        return {kind: [p for p in chosen if p[0].kind == kind] for kind in kinds}

    tune, report, test = split(TUNE), split(REPORT), split(None)
    best = {
        s: {k: max(t[s][k]["mrr"] for t in (_table(f, tune) for f in SINGLE.values())) for k in KINDS} for s in STATES
    }
    candidates = {}
    for name, fusion in CANDIDATES.items():
        table = _table(fusion, tune)
        mean = round(sum(row["mrr"] for s in STATES for row in table[s].values()) / (len(STATES) * len(KINDS)), 3)
        candidates[name] = {"tune": table, "margin": _margin(table, best), "mean_mrr": mean}
    grid = {}
    for k, power, scale in GRID:
        table = _table(rrf("english", k, power, scale), tune)
        mean = sum(row["mrr"] for s in STATES for row in table[s].values()) / (len(STATES) * len(KINDS))
        grid[f"k {k}, coverage^{power:g}, feedback ×{scale:g}"] = {
            "margin": _margin(table, best),
            "mean_mrr": round(mean, 3),
        }
    fair = {n: c for n, c in candidates.items() if c["margin"] >= 0}
    chosen = max(fair or candidates, key=lambda n: candidates[n]["mean_mrr"])  # a tie: the first listed
    before = "rrf k 60 (the design before)"
    return {
        "styles": 21,
        "queries": {"tune": sum(map(len, tune.values())), "report": sum(map(len, report.values())), "test": 42},
        "best_single_list_tune": best,
        "candidates": candidates,
        "grid": grid,
        "chosen": chosen,
        "report": {
            name: {"report_folds": _table(CANDIDATES[name], report), "test_tsv": _table(CANDIDATES[name], test)}
            for name in (before, chosen)
        },
        "best_single_list_report": {
            s: {k: max(_table(f, report)[s][k]["mrr"] for f in SINGLE.values()) for k in KINDS} for s in STATES
        },
        "product_check": _product_check(CANDIDATES[chosen], pairs, product),
    }


def _product_check(fusion: Fusion, pairs: list[tuple[Case, Case]], product: dict[str, int]) -> str:
    """How many (query, state) ranks of a candidate equal HybridSearch's own (fusion="evidence")."""
    same = sum((_rank(fusion, pair[s]) or 0) == product[f"{s}|{pair[s].text}"] for pair in pairs for s in (0, 1))
    return f"{same}/{2 * len(pairs)}"


def summary(result: dict) -> str:
    r = result["results"]
    lines = [f"fusion ({result['size']}), commit {result['machine']['commit']}: chosen {r['chosen']!r}; "
             f"product check {r['product_check']}"]  # fmt: skip
    for name, c in r["candidates"].items():
        cells = " | ".join(f"{c['tune'][s][k]['mrr']:.3f}" for s in STATES for k in KINDS)
        lines.append(f"  {name:55} margin {c['margin']:+.3f} mean {c['mean_mrr']:.3f}  {cells}")
    for name, block in r["report"].items():
        for part, table in block.items():
            cells = " | ".join(f"{s[:4]} {k} {row['mrr']:.3f}" for s in STATES for k, row in table[s].items())
            lines.append(f"  {part:12} {name[:40]:40} {cells}")
    return "\n".join(lines)
