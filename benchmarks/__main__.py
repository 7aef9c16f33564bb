"""`python -m benchmarks <name> [--json] [--size tiny|full] [options]`.

  retrieval  the style library (Chroma HNSW) at 10K / 100K vectors vs exact numpy; text cache
  overhead   sketch decode + resize + Canny vs the seed system; API round trip minus denoising
  startup    process start to /readyz; model load time (tiny; sd15-random with --size full)
  gpu        SD 1.5 + ControlNet + IP-Adapter speed and VRAM, ours vs the seed config (CUDA only)
  live       the live lane through the API: POST to image behind quality renders; a live burst
  live_ui    live drawing in Chromium: stroke end to new image displayed, minus the render (our overhead)
  learning   retrieval that learns: top-1/top-3/MRR before/after corrections; cost per search
  fusion     the fusion designs on the labelled queries: chosen on the tune folds, reported apart
  hires      memory of edits and upscales: derived pipelines share the modules; tiled vs one big tile
  style_import  bulk import: images/s of `styles import` vs plain adds (tiny models, CPU)
  queue      the job queue: submits/s and claim latency, 1/2/4 processes on PostgreSQL vs one on SQLite
  access     keys and rate limit per request: keys.json + memory vs PostgreSQL (S2R_DATABASE_URL)

Benchmarks are measurements, not tests: run them on demand and record them in
benchmarks/results.md (machine, date, commit). `--size tiny` is the quick smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .common import envelope, print_result

BENCHMARKS = {
    "retrieval": "the style library (Chroma HNSW) at 10K / 100K vectors vs exact numpy; text cache",
    "overhead": "sketch decode + resize + Canny vs the seed system; API round trip minus denoising",
    "startup": "process start to /readyz; model load time (sd15-random with --size full)",
    "gpu": "SD 1.5 + ControlNet + IP-Adapter speed and VRAM, ours vs the seed config (CUDA only)",
    "live": "the live lane through the API: POST to image behind quality renders; a burst of one session",
    "live_ui": "live drawing in Chromium: stroke end to the new image displayed, minus the render time",
    "learning": "retrieval that learns: top-1/top-3/MRR before and after corrections; cost per search",
    "fusion": "the fusion designs on the labelled queries: chosen on the tune folds, reported on the others",
    "hires": "memory of edits and upscales: shared modules; peak of a tiled upscale vs one untiled img2img",
    "style_import": "bulk import of style images: images/s of styles import vs plain adds (tiny, CPU)",
    "queue": "the job queue: submits/s and claim latency for 1, 2, 4 processes on PostgreSQL vs one on SQLite",
    "access": "keys and rate limit per request: keys.json + in-memory buckets vs PostgreSQL, same run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="name", required=True, metavar="{" + ",".join(BENCHMARKS) + "}")
    for name, text in BENCHMARKS.items():
        module = importlib.import_module(f"benchmarks.{name}")
        p = sub.add_parser(name, help=text, description=module.__doc__, formatter_class=argparse.RawTextHelpFormatter)
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        p.add_argument("--size", choices=("tiny", "full"), default="full", help="tiny: quick smoke run")
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"benchmarks.{args.name}")
    results = module.run(args)
    if "skipped" in results:  # e.g. gpu without CUDA: a plain, machine-readable answer
        print_result(results, args.json, lambda r: f"{args.name}: skipped ({r['skipped']})")
        return 0
    print_result(envelope(args.name, args.size, results), args.json, module.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
