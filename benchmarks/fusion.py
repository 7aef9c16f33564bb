"""The fusion designs of hybrid search, chosen by measurement on the bundled labelled queries.

The 21 bundled styles, the tiny CLIP (weight 0: random weights mean nothing) and the REAL sentence
model. Each list is computed once per query by the product code (`Learning.lists`: caption meaning,
feedback votes, learned words; `LexicalIndex.ranked` and `.matches` under each stop-word set and
learned-word df floor), and the candidates (fusion_candidates.py) fuse them. Two tune measurements,
both on the TUNE folds of queries.tsv only (evaluation/query_kinds.py):

- `tune`: before and after replaying train.tsv's 21 corrections (6 cells: kind × state);
- `cross`: corrections taken from the tune folds themselves: each tune fold's queries replayed as
  `chosen` (for a throw-away principal), the other two tune folds measured after them, over the
  three rotations (3 cells: kind). Many more corrections and learned words than train.tsv gives.

A candidate's *margin* is the least, over those 9 cells, of its MRR minus the best single list's
(caption, BM25 with learned words, feedback; CLIP is at weight 0 here). Chosen: the highest mean
MRR over the 9 cells among candidates with no negative margin; candidates within `TIE` of it are
tied, and the tie is named (`CHOSEN`, with the reason in benchmarks/results.md). The chosen design
and the designs before are then measured on the REPORT folds and on test.tsv, which no choice
looked at. `product_check`: the chosen candidate ranks every (query, state) of tune, cross, report
and test.tsv as `HybridSearch` (fusion="evidence") does.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import log
from .fusion_candidates import (
    BEFORE,
    CANDIDATES,
    CHOSEN,
    EVIDENCE_1,
    GRID,
    KINDS,
    SINGLE,
    STATES,
    VARIANTS,
    Case,
    Fusion,
    agreement,
    order,
    rrf,
)

TIE = 0.005  # mean MRR differences below this are ties (about three queries moving one place)
Pair = tuple[Case, Case]


def _rank(fusion: Fusion, case: Case) -> int | None:
    ranked = order(fusion(case), case)
    return ranked.index(case.style) + 1 if case.style in ranked else None


def _measures(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "top1": round(sum(r == 1 for r in ranks) / n, 3),
        "top3": round(sum(r is not None and r <= 3 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def _table(fusion: Fusion, cases: dict[str, list[Pair]]) -> dict[str, dict[str, dict[str, float]]]:
    return {
        state: {kind: _measures([_rank(fusion, pair[s]) for pair in rows]) for kind, rows in cases.items()}
        for s, state in enumerate(STATES)
    }


def _cross_table(fusion: Fusion, cross: list[Case]) -> dict[str, dict[str, float]]:
    return {kind: _measures([_rank(fusion, c) for c in cross if c.kind == kind]) for kind in KINDS}


def _best(tables: list[dict]) -> dict:
    """The best single list's MRR per cell of same-shaped tables (state -> kind, or kind)."""
    first = tables[0]
    if "mrr" in next(iter(first.values())):
        return {k: max(t[k]["mrr"] for t in tables) for k in first}
    return {s: {k: max(t[s][k]["mrr"] for t in tables) for k in first[s]} for s in first}


def _cells(table: dict, cross: dict | None = None) -> list[float]:
    cells = [row["mrr"] for s in STATES for row in table[s].values()]
    return cells + ([row["mrr"] for row in cross.values()] if cross is not None else [])


def _score(fusion: Fusion, tune: dict[str, list[Pair]], cross: list[Case], best: dict, best_cross: dict) -> dict:
    """A candidate on the tune folds: its tables, its margin over the best single list, its mean."""
    table, crossed = _table(fusion, tune), _cross_table(fusion, cross)
    margins = [table[s][k]["mrr"] - best[s][k] for s in STATES for k in KINDS]
    margins += [crossed[k]["mrr"] - best_cross[k] for k in KINDS]
    cells = _cells(table, crossed)
    return {"tune": table, "cross": crossed, "margin": round(min(margins), 3), "mean_mrr": round(sum(cells) / 9, 4)}


def _case(query, state: int, learned, indexes: dict, dense: dict[str, float]) -> Case:
    """One query's lists in one state (`learned`: Learning.lists for its principal)."""
    lexical = {}
    for name, index in indexes.items():
        ranked = index.ranked(query.text, None, None, 1.0, learned.words)
        matches = index.matches(query.text, ranked.ids, learned.words)
        lexical[name] = (
            ranked.ids.tolist(),
            ranked.scores.tolist(),
            matches.coverage().tolist(),
            matches.learned_count().tolist(),
        )
    votes = {i: v.score for i, v in learned.votes.items()}
    return Case(query.text, query.style_id, query.kind, query.fold, learned.caption, votes, lexical, dense)


def _gather(tmp: Path, models_dir: str | None) -> tuple[list[Pair], list[Case], dict[str, int]]:
    """Both states of every bundled query (test.tsv, queries.tsv), the cross-fold replays on the
    tune folds, and the product's own ranks of each."""
    from sketch2render.config import Settings
    from sketch2render.evaluation.query_kinds import TUNE
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
    store = search.learning.feedback.store
    for item in read_tsv(BUNDLED / "train.tsv", library, "chosen"):
        store.add("bench", item.text, item.style_id, item.kind, source="eval")
    labelled = read_tsv(BUNDLED / "queries.tsv", library, "all")
    for fold in TUNE:  # cross-fold replay: one tune fold's queries as corrections
        for item in labelled:
            if item.fold == fold:
                store.add(f"cross{fold}", item.text, item.style_id, "chosen", source="eval")
    dense_of = {}
    for query in read_tsv(BUNDLED / "test.tsv", library, "all") + labelled:
        found = library.nearest(library.embeddings.embed_query(query.text), len(records), ())
        dense_of[query.text] = {i: 1.0 - d for i, d in zip(found["ids"][0], found["distances"][0], strict=True)}

    product: dict[str, int] = {}

    def measured(query, state: int, principal: str) -> Case:
        learned = search.learning.lists(query.text, principal, records, None, len(records))
        hits = [h.id for h in search.search(query.text, len(records), principal=principal)]
        product[f"{principal}|{query.text}"] = hits.index(query.style_id) + 1 if query.style_id in hits else 0
        return _case(query, state, learned, indexes, dense_of[query.text])

    queries = read_tsv(BUNDLED / "test.tsv", library, "all") + labelled
    pairs = [(measured(q, 0, ""), measured(q, 1, "bench")) for q in queries]
    cross = []
    for fold in TUNE:
        for query in labelled:
            if query.fold in TUNE and query.fold != fold:
                case = measured(query, 1, f"cross{fold}")
                cross.append(replace(case, text=f"cross{fold}|{query.text}"))
    search.close()
    library.close()
    return pairs, cross, product


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", help="a built tiny model folder to reuse (else one is built)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.evaluation.query_kinds import REPORT, TUNE

    with tempfile.TemporaryDirectory(prefix="s2r-bench-fusion-") as tmp:
        log("fusion: every list of every bundled query, before and after the corrections; cross-fold replays")
        pairs, cross, product = _gather(Path(tmp), args.models_dir)

    def split(folds: tuple[int, ...] | None) -> dict[str, list[Pair]]:
        kinds = KINDS if folds is not None else ("words", "paraphrase")
        chosen = [p for p in pairs if (p[0].fold in folds if folds is not None else p[0].fold is None)]
        return {kind: [p for p in chosen if p[0].kind == kind] for kind in kinds}

    tune, report, test = split(TUNE), split(REPORT), split(None)
    best = _best([_table(f, tune) for f in SINGLE.values()])
    best_cross = _best([_cross_table(f, cross) for f in SINGLE.values()])
    candidates = {name: _score(fusion, tune, cross, best, best_cross) for name, fusion in CANDIDATES.items()}
    grid = {}
    for k, power, scale, guarded in GRID:
        for phrase in (0, 2) if guarded else (0,):
            fusion = rrf("english", k, power, scale, phrase, agreement if guarded else None)
            extra = (" + agreement" if guarded else "") + (" + learned phrase" if phrase else "")
            scored = _score(fusion, tune, cross, best, best_cross)
            grid[f"k {k}, coverage^{power:g}, feedback ×{scale:g}{extra}"] = {
                "margin": scored["margin"],
                "mean_mrr": scored["mean_mrr"],
            }
    fair = {n: c for n, c in candidates.items() if c["margin"] >= 0} or candidates
    top = max(c["mean_mrr"] for c in fair.values())
    tied = [n for n, c in fair.items() if c["mean_mrr"] >= top - TIE]
    reported = (BEFORE, EVIDENCE_1, "evidence 1 + agreement", CHOSEN)
    return {
        "styles": 21,
        "queries": {
            "tune": sum(map(len, tune.values())),
            "cross": len(cross),
            "report": sum(map(len, report.values())),
            "test": sum(map(len, test.values())),
        },
        "best_single_list": {"tune": best, "cross": best_cross},
        "candidates": candidates,
        "grid": grid,
        "tied_best": tied,
        "chosen": CHOSEN,
        "chosen_is_tied_best": CHOSEN in tied,
        "report": {
            name: {"report_folds": _table(CANDIDATES[name], report), "test_tsv": _table(CANDIDATES[name], test)}
            for name in reported
        },
        "best_single_list_report": {
            "report_folds": _best([_table(f, report) for f in SINGLE.values()]),
            "test_tsv": _best([_table(f, test) for f in SINGLE.values()]),
        },
        "product_check": _product_check(CANDIDATES[CHOSEN], pairs, cross, product),
    }


def _product_check(fusion: Fusion, pairs: list[Pair], cross: list[Case], product: dict[str, int]) -> str:
    """How many ranks of a candidate equal HybridSearch's own (fusion="evidence"): every (query,
    state) of the bundled sets, and every cross-fold case."""
    keyed = [(c, f"{p}|{c.text}") for pair in pairs for c, p in zip(pair, ("", "bench"), strict=True)]
    keyed += [(c, c.text) for c in cross]
    same = sum((_rank(fusion, c) or 0) == product[key] for c, key in keyed)
    return f"{same}/{len(keyed)}"


def summary(result: dict) -> str:
    r = result["results"]
    lines = [f"fusion ({result['size']}), commit {result['machine']['commit']}: chosen {r['chosen']!r} "
             f"(tied best: {r['tied_best']}); product check {r['product_check']}"]  # fmt: skip
    for name, c in r["candidates"].items():
        cells = " | ".join(f"{x:.3f}" for x in _cells(c["tune"], c["cross"]))
        lines.append(f"  {name:62} margin {c['margin']:+.3f} mean {c['mean_mrr']:.4f}  {cells}")
    for name, c in r["grid"].items():
        lines.append(f"  grid {name:57} margin {c['margin']:+.3f} mean {c['mean_mrr']:.4f}")
    for name, block in r["report"].items():
        for part, table in block.items():
            cells = " | ".join(f"{s[:4]} {k} {row['mrr']:.3f}" for s in STATES for k, row in table[s].items())
            lines.append(f"  {part:12} {name[:44]:44} {cells}")
    return "\n".join(lines)
