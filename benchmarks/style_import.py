"""Bulk import: images per second of `sketch2render styles import` on the tiny models, CPU.

N small distinct pictures (random 16×12 blocks scaled to 256×192 PNGs) in a folder, imported into a
fresh library with the tiny retrieval CLIP: (a) the baseline, `StyleLibrary.add_files` (decode,
embed, store; no fingerprint check, no report) and (b) `styles.bulk.import_styles` (the same plus
each file's fingerprint checked against the library's for near duplicates, a collection and a
per-file report), each into its own fresh data folder, fed alternately 100 files at a time; then
(c) a re-run of (b) over the full library (every file `existed`). Left out: zip reading (the API's path).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .common import log

COUNTS = {"tiny": 100, "full": 1000}
CHUNK = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=None, help="images (default: 100 tiny, 1000 full)")


def _pictures(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        blocks = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((256, 192), Image.Resampling.NEAREST).save(folder / f"ref_{i:05d}.png")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.config import Settings
    from sketch2render.models import build_tiny, resolve_models
    from sketch2render.styles import build_embeddings
    from sketch2render.styles.bulk import ImportOptions, folder_sources, import_styles, summary
    from sketch2render.styles.library import StyleLibrary

    count = args.count or COUNTS[args.size]
    with tempfile.TemporaryDirectory(prefix="s2r-bench-import-") as tmp:
        root = Path(tmp)
        models_dir = build_tiny(root / "tiny")
        settings = Settings(home=root / "home", models=str(models_dir), device="cpu")
        embeddings = build_embeddings(settings, resolve_models(settings))
        embeddings.load()
        _pictures(root / "refs", count)
        sources = folder_sources(root / "refs")
        results: dict[str, Any] = {"images": count}
        # Both libraries open side by side, fed in alternating chunks: the same process, the same load
        # (run one after the other, the second Chroma store in a process came out slower, whichever it was).
        plain, imported = StyleLibrary(root / "a", embeddings), StyleLibrary(root / "b", embeddings)
        imported.collections.create("bench", "bench")
        options = ImportOptions("bench", "CC0", collection="bench", admin=True)
        seconds = {"add_files": 0.0, "import": 0.0}
        reports = []
        for start in range(0, count, CHUNK):
            chunk = sources[start : start + CHUNK]
            log(f"images {start}-{start + len(chunk)}: add_files, then import_styles")
            t0 = time.perf_counter()
            plain.add_files([(root / "refs" / s.name, None) for s in chunk])
            seconds["add_files"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            reports += import_styles(imported, chunk, {}, options, settings.limits)
            seconds["import"] += time.perf_counter() - t0
        results["add_files"] = {"seconds": round(seconds["add_files"], 2)}
        results["import"] = {"seconds": round(seconds["import"], 2), **summary(reports)}
        t0 = time.perf_counter()
        again = import_styles(imported, sources, {}, options, settings.limits)
        results["rerun"] = {"seconds": round(time.perf_counter() - t0, 2), **summary(again)}
        plain.close()
        imported.close()
    for key in ("add_files", "import", "rerun"):
        results[key]["images_per_s"] = round(count / results[key]["seconds"], 1)
    results["import_vs_baseline"] = round(results["add_files"]["seconds"] / results["import"]["seconds"], 2)
    return results


def summary(result: dict[str, Any]) -> str:
    r = result["results"]
    return (
        f"{r['images']} images: add_files {r['add_files']['images_per_s']}/s (baseline), "
        f"import {r['import']['images_per_s']}/s ({r['import_vs_baseline']}x), re-run {r['rerun']['images_per_s']}/s"
    )
