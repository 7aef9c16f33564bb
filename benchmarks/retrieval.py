"""Retrieval at scale: the real `StyleLibrary` store (ChromaDB HNSW, cosine) against exact numpy
search over the same vectors, in the same process and the same run.

Data: N unit vectors in 512-d, clustered (1000 random unit centres, each point = centre + small
Gaussian noise, renormalised); queries are held-out points drawn the same way. docs/facts.md: HNSW
recall on i.i.d. noise is meaningless, so never benchmark it there. The vectors go through the
library's own batch upsert (`StyleLibrary._index`: records + vectors, no images); a fake
embedder maps query text "q<j> ..." to held-out vector j, so `search()` runs the product path.

Per size, in a fresh process (clean peak RSS): insert throughput, per-query latency of exact
numpy, the raw Chroma query (the library talks to chromadb directly), the library's hybrid path with and
without words, recall@5 against exact, library re-open time, peak RSS. Separately: the CLIP
text-embedding cache (first call vs cached call) on the tiny CLIP.
Left out: image embedding (a model cost, not retrieval), Chroma server mode (HttpClient).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .common import fmt_ms, log, peak_rss_mb, ratio, run_child, stats_ms
from .retrieval_before import hybrid_before, measure_fusions, measure_words

SIZES = {"tiny": [500], "full": [10_000, 100_000]}
QUERIES = {"tiny": 50, "full": 1000}
DIM = 512
K = 5
NOISE = 0.5  # norm of the noise added to a centre, relative to the unit centre
VOCAB = [f"w{i:03d}" for i in range(200)]  # title words: each matches about 1 % of the styles
TAGS = [f"tag{i:02d}" for i in range(20)]
TARGETS = {"p50_ms_at_100k": 2.0, "recall_at_5": 0.95, "cached_embed_ms": 1.0}


# --------------------------------------------------------------------------- data


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered_data(n: int, queries: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Clustered unit vectors (float32) and held-out queries near the same centres."""
    rng = np.random.default_rng(seed)
    clusters = min(1000, max(10, n // 10))
    centres = unit_rows(rng.standard_normal((clusters, DIM), dtype=np.float32))
    sigma = float(NOISE / np.sqrt(DIM))  # a Python float keeps float32 arrays float32 (NEP 50)
    assign = rng.integers(0, clusters, n)
    points = unit_rows(centres[assign] + rng.standard_normal((n, DIM), dtype=np.float32) * sigma)
    q_assign = rng.integers(0, clusters, queries)
    held_out = unit_rows(centres[q_assign] + rng.standard_normal((queries, DIM), dtype=np.float32) * sigma)
    return {
        "points": points.astype(np.float32),
        "assign": assign,
        "queries": held_out.astype(np.float32),  # float64 queries would upcast all points per search
        "q_assign": q_assign,
    }


def exact_top_k(points: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 100) -> np.ndarray:
    """Ground truth: indices of the k largest cosines per query, best first."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ points.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def numpy_search(points: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    """The exact baseline, one query at a time (as a request would run it)."""
    sims = points @ query
    top = np.argpartition(-sims, k)[:k]
    return top[np.argsort(-sims[top])]


class _RowsAsLists(Sequence):
    """A float32 matrix that slices into list[list[float]] (what CLIP embeddings return),
    converted per batch so 100K vectors never exist as Python floats all at once."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def __len__(self) -> int:
        return len(self.matrix)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [row.tolist() for row in self.matrix[index]]
        return self.matrix[index].tolist()


def _fake_embeddings(queries: np.ndarray):
    from langchain_core.embeddings import Embeddings

    class HeldOutQueries(Embeddings):
        """Query text 'q<j> ...' embeds as held-out vector j (deterministic, no model)."""

        model_name = "bench-clustered-512"

        def embed_query(self, text: str) -> list[float]:
            return queries[int(text.split()[0][1:])].tolist()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self.embed_query(t) for t in texts]

        def embed_pil(self, images):  # the benchmark never adds images
            raise NotImplementedError("the retrieval benchmark inserts vectors, not images")

    return HeldOutQueries()


def _records(assign: np.ndarray):
    from sketch2render.schemas import StyleRecord

    return [
        StyleRecord(
            id=f"b{i:07d}",
            title=f"{VOCAB[c % len(VOCAB)]} {VOCAB[(c * 7 + 3) % len(VOCAB)]} study {i}",
            tags=[TAGS[c % len(TAGS)]],
            description="",
            width=512,
            height=512,
            added_at=float(i),
        )
        for i, c in enumerate(assign.tolist())
    ]


def _index_of(style_id: str) -> int:
    return int(style_id[1:])


def recall_at_k(found: list[list[int]], exact: np.ndarray, k: int = K) -> float:
    hits = [len(set(f[:k]) & set(e[:k].tolist())) / k for f, e in zip(found, exact, strict=True)]
    return round(float(np.mean(hits)), 4)


# --------------------------------------------------------------------------- one size


def measure_size(n: int, queries: int, seed: int = 0) -> dict[str, Any]:
    """Everything for one library size (run in its own process: peak RSS is per process)."""
    from sketch2render.retrieval import HybridSearch
    from sketch2render.styles import StyleLibrary

    # 1. Data and ground truth
    t0 = time.perf_counter()
    data = clustered_data(n, queries, seed)
    points, qs = data["points"], data["queries"]
    exact = exact_top_k(points, qs)
    records = _records(data["assign"])
    log(f"retrieval n={n}: data ready in {time.perf_counter() - t0:.1f}s")
    embedder = _fake_embeddings(qs)

    with tempfile.TemporaryDirectory(prefix="s2r-bench-retrieval-") as tmp:
        root = Path(tmp) / "styles"
        # 2. Open and insert through the library's own batch upsert
        t0 = time.perf_counter()
        library = StyleLibrary(root, embedder)
        open_empty_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        library._index(records, _RowsAsLists(points))
        insert_s = time.perf_counter() - t0
        rss_after_insert = peak_rss_mb()
        log(f"retrieval n={n}: inserted in {insert_s:.1f}s ({n / insert_s:.0f} vectors/s)")

        # 3. The paths, interleaved query by query; 4. the full product search with words
        search = HybridSearch(library)
        latency, recall = _measure_paths(search, points, qs, exact)
        without_scan = _measure_without_scan(search, qs)
        texts = [f"q{j} {VOCAB[int(c) % len(VOCAB)]}" for j, c in enumerate(data["q_assign"])]
        words = measure_words(search, qs, texts, min(queries, 200))
        fusions = measure_fusions(search, HybridSearch(library, fusion="rrf"), texts, min(queries, 200))

        # 5. Re-open: what start-up costs at this size. First the metadata read that
        #    `reconcile()` does, paged (5000 at a time), then a real re-open of the library
        #    (with the record files it commits by written first).
        t0 = time.perf_counter()
        _read_records_paged(library.collection)
        paged_read_s = time.perf_counter() - t0
        for record in records:
            (library.images_dir / f"{record.id}.json").write_text(record.model_dump_json())
        del library, search
        gc.collect()
        reopen: dict[str, Any] = {"paged_metadata_read_s": round(paged_read_s, 3)}
        t0 = time.perf_counter()
        try:
            reopened = StyleLibrary(root, embedder)
        except Exception as exc:  # e.g. Chroma's "too many SQL variables" past 32,766 entries
            reopen["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            log(f"retrieval n={n}: re-opening the library failed: {reopen['error']}")
        else:
            reopen["reopen_s"] = round(time.perf_counter() - t0, 3)
            reopen["styles"] = len(reopened)

    return {
        "vectors": n,
        "dim": DIM,
        "clusters": min(1000, max(10, n // 10)),
        "queries": queries,
        "k": K,
        "open_empty_s": round(open_empty_s, 3),
        "insert_s": round(insert_s, 3),
        "insert_vectors_per_s": round(n / insert_s, 1),
        "latency": latency,
        "recall_at_5": recall,
        "without_scan": without_scan,
        "search_with_words": words,
        "fusions": fusions,
        "reopen": reopen,
        "ratio_hybrid_to_numpy_p50": ratio(latency["hybrid_no_words"]["p50_ms"], latency["numpy_exact"]["p50_ms"]),
        "ratio_hybrid_after_to_before_p50": ratio(
            latency["hybrid_no_words"]["p50_ms"], latency["hybrid_no_words_before"]["p50_ms"]
        ),
        "ratio_hybrid_to_chroma_raw_p50": ratio(latency["hybrid_no_words"]["p50_ms"], latency["chroma_raw"]["p50_ms"]),
        "ratio_chroma_raw_to_numpy_p50": ratio(latency["chroma_raw"]["p50_ms"], latency["numpy_exact"]["p50_ms"]),
        "rss_after_insert_mb": rss_after_insert,
        "peak_rss_mb": peak_rss_mb(),
    }


def _measure_paths(search, points: np.ndarray, qs: np.ndarray, exact: np.ndarray) -> tuple[dict, dict]:
    """Latency and recall@5 of each search path, interleaved query by query so that CPU noise
    (other processes on a shared machine) hits all of them alike."""
    collection = search.library.collection
    q_lists = [q.tolist() for q in qs]

    def chroma_raw(j: int) -> list[int]:
        found = collection.query(query_embeddings=[q_lists[j]], n_results=K, include=["distances"])
        return [_index_of(i) for i in found["ids"][0]]

    def hybrid_no_words(j: int) -> list[int]:
        with search.library.lock:
            return [_index_of(h.id) for h in search._hybrid(q_lists[j], "", K, None, ())]

    def hybrid_no_words_before(j: int) -> list[int]:  # the code of commit 32f058f, same library
        return [_index_of(h.id) for h in hybrid_before(search, q_lists[j], "", K)]

    def numpy_exact(j: int) -> list[int]:
        return numpy_search(points, qs[j]).tolist()

    paths = {f.__name__: f for f in (numpy_exact, chroma_raw, hybrid_no_words, hybrid_no_words_before)}
    for j in range(min(20, len(qs))):  # warm-up
        for fn in paths.values():
            fn(j)
    times: dict[str, list[float]] = {name: [] for name in paths}
    found: dict[str, list[list[int]]] = {name: [] for name in paths}
    names = list(paths)
    for j in range(len(qs)):
        for name in names[j % len(names) :] + names[: j % len(names)]:
            t = time.perf_counter()
            ids = paths[name](j)
            times[name].append(time.perf_counter() - t)
            found[name].append(ids)
    return {n: stats_ms(v) for n, v in times.items()}, {n: recall_at_k(found[n], exact) for n in paths}


def _measure_without_scan(search, qs: np.ndarray) -> dict[str, Any]:
    """Chroma's query and the hybrid path again, interleaved with each other only: the numpy scan
    of the first phase reads the whole matrix before a quarter of the queries and evicts the CPU
    caches the index lives in (Chroma's query at 100K: ~1.5 ms alone, ~2 ms right after a scan)."""
    collection, q_lists = search.library.collection, [q.tolist() for q in qs]
    paths = {
        "chroma_raw": lambda j: collection.query(query_embeddings=[q_lists[j]], n_results=K, include=["distances"]),
        "hybrid_no_words": lambda j: search._hybrid(q_lists[j], "", K, None, ()),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for j in range(len(qs)):
        for name in list(paths)[j % 2 :] + list(paths)[: j % 2]:
            times[name].append(_time_once(lambda name=name, j=j: paths[name](j)))
    return {name: stats_ms(values) for name, values in times.items()}


def _read_records_paged(collection, page: int = 5000) -> int:
    """Every record's metadata, a page at a time, parsed as `reconcile()` parses it."""
    from sketch2render.schemas import StyleRecord

    count, offset = 0, 0
    while True:
        batch = collection.get(include=["metadatas"], limit=page, offset=offset)
        for meta in batch["metadatas"]:
            StyleRecord.model_validate_json(meta["record"])
        count += len(batch["ids"])
        offset += page
        if len(batch["ids"]) < page:
            return count


def _time_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# --------------------------------------------------------------------------- text cache


def measure_text_cache(models_dir: str | None, repeats: int = 1000) -> dict[str, Any]:
    """`CLIPEmbeddings.embed_query` on the tiny CLIP: load, first call, uncached and cached calls."""
    from sketch2render.models import build_tiny
    from sketch2render.models.library_logs import quiet_libraries
    from sketch2render.styles import CLIPEmbeddings

    quiet_libraries()
    with tempfile.TemporaryDirectory(prefix="s2r-bench-clip-") as tmp:
        folder = Path(models_dir) if models_dir else build_tiny(Path(tmp) / "tiny")
        embeddings = CLIPEmbeddings(str(folder / "clip"), local_files_only=True, device="cpu")
        load_s = _time_once(embeddings.load)
        first_s = _time_once(lambda: embeddings.embed_query("a watercolour harbour at dusk"))
        uncached = [_time_once(lambda i=i: embeddings.embed_query(f"prompt number {i}")) for i in range(50)]
        prompt = "a watercolour harbour at dusk"
        cached = [_time_once(lambda: embeddings.embed_query(prompt)) for _ in range(repeats)]
    cached_stats, uncached_stats = stats_ms(cached), stats_ms(uncached)
    return {
        "model": "tiny CLIP (random weights, hidden 32, 2 layers)",
        "load_s": round(load_s, 3),
        "first_call_ms": round(first_s * 1000, 3),
        "uncached": uncached_stats,
        "cached": cached_stats,
        "cache_hits": embeddings.cache_hits,
        "ratio_uncached_to_cached_p50": ratio(uncached_stats["p50_ms"], cached_stats["p50_ms"]),
    }


# --------------------------------------------------------------------------- runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vectors", type=int, action="append", help="library size(s) instead of the preset")
    parser.add_argument("--queries", type=int, help="queries per size (preset: 50 tiny, 1000 full)")
    parser.add_argument("--models-dir", help="a built tiny model folder to reuse (else one is built)")
    parser.add_argument("--skip-text-cache", action="store_true", help="leave out the CLIP cache part")


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = args.vectors or SIZES[args.size]
    queries = args.queries or QUERIES[args.size]
    results: dict[str, Any] = {"targets": TARGETS, "sizes": []}
    for n in sizes:
        log(f"retrieval: {n} vectors, {queries} queries (own process)")
        try:
            results["sizes"].append(
                run_child("benchmarks.retrieval", ["--child-size", str(n), "--queries", str(queries)])
            )
        except RuntimeError as exc:  # keep the other sizes' numbers
            log(str(exc))
            results["sizes"].append({"vectors": n, "error": str(exc)[-1000:]})
    if not args.skip_text_cache:
        child_args = ["--child-text-cache"] + (["--models-dir", args.models_dir] if args.models_dir else [])
        results["text_cache"] = run_child("benchmarks.retrieval", child_args)
    return results


def summary(result: dict) -> str:
    lines = [f"retrieval ({result['size']}), {result['machine']['cpus']} CPUs, commit {result['machine']['commit']}"]
    for s in result["results"]["sizes"]:
        if "error" in s:
            lines.append(f"  {s['vectors']} vectors: failed: {s['error'][-300:]}")
            continue
        lat, rec = s["latency"], s["recall_at_5"]
        lines += [
            f"  {s['vectors']} vectors: insert {s['insert_vectors_per_s']:.0f}/s, peak RSS {s['peak_rss_mb']} MB,"
            f" re-open {s['reopen'].get('reopen_s', s['reopen'].get('error'))}",
            *(f"    {name:16} {fmt_ms(lat[name])}  recall@5 {rec[name]}" for name in lat),
            *(
                f"    {name:16} {fmt_ms(value)}  (no numpy scan in between)"
                for name, value in s["without_scan"].items()
            ),
            f"    search+words     {fmt_ms(s['search_with_words']['latency'])}"
            f" (before: {fmt_ms(s['search_with_words']['latency_before'])};"
            f" same top-5 {s['search_with_words']['same_top_k_as_before']};"
            f" first call {s['search_with_words']['first_call_ms']} ms)",
            f"    search+words evidence {fmt_ms(s['fusions']['latency']['evidence'])} vs rrf"
            f" {fmt_ms(s['fusions']['latency']['rrf'])}: x{s['fusions']['ratio_evidence_to_rrf_p50']}",
        ]
    cache = result["results"].get("text_cache")
    if cache:
        lines.append(
            f"  text cache: first {cache['first_call_ms']} ms, uncached {fmt_ms(cache['uncached'])},"
            f" cached {fmt_ms(cache['cached'])}"
        )
    return "\n".join(lines)


def _child_main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval")
    parser.add_argument("--child-size", type=int)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--child-text-cache", action="store_true")
    parser.add_argument("--models-dir")
    args = parser.parse_args()
    if args.child_text_cache:
        print(json.dumps(measure_text_cache(args.models_dir)))
    elif args.child_size:
        print(json.dumps(measure_size(args.child_size, args.queries)))
    else:
        parser.error("use `python -m benchmarks retrieval`; this entry point is for its child processes")


if __name__ == "__main__":
    _child_main()
