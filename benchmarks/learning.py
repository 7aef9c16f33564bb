"""Retrieval that learns (retrieval/learning.py) on the 21 bundled styles and the bundled labelled
queries (sketch2render/data/retrieval): quality before and after replaying the training
corrections (top-1, top-3, MRR; word-sharing and word-free paraphrases apart), what the learned
lists cost per search (p50 vs CLIP + BM25 alone, measured in the same run, query by query
interleaved), and the sentence model's load time. Tiny CLIP (weight 0: it means nothing), the
REAL sentence model (all-MiniLM-L6-v2): with real CLIP weights the "today" row would be higher.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, ratio, stats_ms


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", help="a built tiny model folder to reuse (else one is built)")
    parser.add_argument("--repeats", type=int, help="timed passes over the queries (preset: 1 tiny, 5 full)")


def _latency(search, queries, principal: str, repeats: int) -> dict[str, list[float]]:
    """Seconds per search of each ranking, interleaved query by query."""
    learning = search.learning
    weights = learning.caption_weight
    times: dict[str, list[float]] = {"today": [], "captions": [], "feedback": []}
    for _ in range(repeats):
        for query in queries:
            for ranking in times:
                learning.caption_weight = 0.0 if ranking == "today" else weights
                who = principal if ranking == "feedback" else ""
                if search.answers is not None:
                    search.answers.clear()  # the cost of a search, not of a kept answer (retrieval/answer_cache.py)
                t0 = time.perf_counter()
                search.search(query.text, 5, principal=who)
                times[ranking].append(time.perf_counter() - t0)
    learning.caption_weight = weights
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.config import Settings
    from sketch2render.evaluation.retrieval import BUNDLED, evaluate_retrieval, read_tsv
    from sketch2render.models import build_tiny, resolve_models
    from sketch2render.models.sentence import load_sentence_model, packaged_model_dir
    from sketch2render.retrieval import build_search
    from sketch2render.styles import build_embeddings, build_library, import_defaults

    repeats = args.repeats or (1 if args.size == "tiny" else 5)
    with tempfile.TemporaryDirectory(prefix="s2r-bench-learning-") as tmp:
        tiny = Path(args.models_dir) if args.models_dir else build_tiny(Path(tmp) / "tiny")
        settings = Settings(
            home=Path(tmp) / "home", models=str(tiny), device="cpu", sentence_model=packaged_model_dir()
        )
        t0 = time.perf_counter()
        load_sentence_model(settings)
        load_s = time.perf_counter() - t0
        models = resolve_models(settings)
        library = build_library(settings, build_embeddings(settings, models))
        import_defaults(library)
        search = build_search(settings, library, models)
        test = read_tsv(BUNDLED / "test.tsv", library, "all")
        train = read_tsv(BUNDLED / "train.tsv", library, "chosen")
        log("learning: quality before and after replaying the corrections")
        quality = evaluate_retrieval(search, test, train)
        store = search.learning.feedback.store
        for item in train:
            store.add("bench", item.text, item.style_id, item.kind)
        log(f"learning: search latency, {repeats} pass(es) over {len(test)} queries")
        times = _latency(search, test, "bench", repeats)
        search.close()
        library.close()
    latency = {name: stats_ms(values) for name, values in times.items()}
    today = latency["today"]["p50_ms"]
    return {
        "styles": 21,
        "queries": {"test": len(test), "train": len(train)},
        "sentence_model_load_s": round(load_s, 2),
        "quality": quality,
        "latency": latency,
        "p50_ratio_vs_today": {name: ratio(block["p50_ms"], today) for name, block in latency.items()},
    }


def summary(result: dict) -> str:
    r = result["results"]
    lines = [f"learning ({result['size']}), commit {result['machine']['commit']}: sentence model load "
             f"{r['sentence_model_load_s']} s"]  # fmt: skip
    for ranking, groups in r["quality"].items():
        for kind, row in groups.items():
            lines.append(
                f"  {ranking:9} {kind:10} n={row['queries']:2d} top-1 {row['top1']:.2f} top-3 {row['top3']:.2f}"
                f" MRR {row['mrr']:.3f}"
            )
    for name, block in r["latency"].items():
        lines.append(f"  search {name:9} p50 {block['p50_ms']:.1f} ms (x{r['p50_ratio_vs_today'][name]} vs today)")
    return "\n".join(lines)
