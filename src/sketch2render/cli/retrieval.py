"""`sketch2render eval retrieval`: top-1, top-3 and MRR of style retrieval on labelled queries,
before and after replaying training corrections (evaluation/retrieval.py), for the fused ranking and
each single list it fuses. The bundled query sets for the bundled styles:
`sketch2render/data/retrieval/{test,queries,train}.tsv` (`--bundled`; `--folds` picks the folds of
queries.tsv: report by default, tune for choosing a design)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOpt, edge, fail, open_search, print_json, settings

NAMES = {"today": "CLIP + BM25", "captions": "+ caption meaning", "feedback": "+ feedback (after --train)"}


@edge
def eval_retrieval(
    queries: Annotated[Path | None, typer.Option("--queries", help="TSV: query, style id or title, kind.")] = None,
    train: Annotated[Path | None, typer.Option("--train", help="TSV: prompt, style, signal (replayed).")] = None,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="The bundled query sets (test.tsv, queries.tsv, train.tsv).")
    ] = False,
    folds: Annotated[str, typer.Option("--folds", help="Folds of queries.tsv: report, tune or all.")] = "report",
    as_json: JsonOpt = False,
) -> None:
    """Retrieval quality (top-1, top-3, MRR) before and after replaying training corrections."""
    from ..evaluation.retrieval import BUNDLED, bundled_queries, evaluate_retrieval, in_folds, read_tsv

    if bundled:
        train = train or BUNDLED / "train.tsv"
    if queries is None and not bundled:
        raise fail("--queries Q.tsv is required (or --bundled)")
    for name, path in (("--queries", queries), ("--train", train)):
        if path is not None and not path.is_file():
            raise fail(f"{name}: no such file {path}")
    search = open_search(settings())
    if queries is None:
        test = bundled_queries(search.library, folds)
    else:
        test = in_folds(read_tsv(queries, search.library, "all"), folds)
    corrections = read_tsv(train, search.library, "chosen") if train else None
    report = evaluate_retrieval(search, test, corrections)
    if as_json:
        print_json(report)
        return
    kinds = list(report["today"])
    typer.echo(f"{'ranking / list':28} {'queries':>14} {'n':>3} {'top-1':>6} {'top-3':>6} {'MRR':>6}")
    for ranking, groups in report.items():
        for kind in kinds:
            row = groups[kind]
            typer.echo(f"{NAMES[ranking]:28} {kind:>14} {row['queries']:3d} {_cells(row)}")
            for name, alone in row["lists"].items():
                typer.echo(f"{'  ' + name + ' alone':28} {kind:>14} {'':3} {_cells(alone)}")


def _cells(row: dict) -> str:
    return f"{row['top1']:6.2f} {row['top3']:6.2f} {row['mrr']:6.3f}"
