"""Start-up: how long until the API can render, and how long the models take to load.

1. Process start to `/readyz` 200 for `python -m sketch2render.api` with tiny models (also the
   first `/livez` 200: the server answers before the models are loaded). Two cases: a first run
   with `S2R_MODELS=tiny` and an empty home (the tiny models are built, ~5 s), and warm starts
   with the models already on disk (`S2R_MODELS=<folder>`), repeated.
2. Model load time, each profile in a fresh process: imports (torch, diffusers), `resolve_models`,
   `builders.build_renderer` (`Renderer.from_models`: ControlNet + SD 1.5 pipeline + IP-Adapter
   from local safetensors) twice (the second from a warm page cache), the retrieval CLIP, and
   peak RSS. `tiny` always; `sd15-random` (full SD 1.5 shapes, several GB, built on first use
   into a cache folder) only with `--size full`. On CPU the weights are upcast to fp32.
Left out: the real sd15 weights (not available offline), GPU transfer (see the gpu benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, peak_rss_mb, run_child, stats_ms
from .server import ApiServer

STARTS = {"tiny": 1, "full": 3}
DEFAULT_CACHE = Path(os.environ.get("S2R_BENCH_CACHE", Path.home() / ".cache" / "sketch2render-bench"))


def measure_api_start(models_dir: Path, starts: int, first_run: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-startup-") as tmp:
        if first_run:
            with ApiServer(Path(tmp) / "first", models="tiny") as server:
                ready = server.wait_ready()
            out["first_run"] = {"livez_s": ready["livez_s"], "readyz_s": ready["readyz_s"], "models": "tiny (built)"}
        warm = []
        for i in range(starts):
            with ApiServer(Path(tmp) / f"warm{i}", models=str(models_dir)) as server:
                warm.append(server.wait_ready())
        out["warm"] = {
            "starts": starts,
            "livez": stats_ms([w["livez_s"] for w in warm]),
            "readyz": stats_ms([w["readyz_s"] for w in warm]),
            "profile": warm[-1]["readyz"].get("profile"),
        }
    return out


def measure_load(models_dir: str) -> dict[str, Any]:
    """In a fresh process: import, resolve, load the renderer twice, load the retrieval CLIP."""
    t0 = time.perf_counter()
    import torch  # noqa: F401
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline  # noqa: F401

    from sketch2render.config import Settings
    from sketch2render.models import resolve_models
    from sketch2render.models.library_logs import quiet_libraries
    from sketch2render.render.renderer import build_renderer
    from sketch2render.styles import build_embeddings

    quiet_libraries()
    import_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="s2r-bench-load-") as tmp:
        settings = Settings(home=Path(tmp), models=models_dir, device="cpu")
        t0 = time.perf_counter()
        models = resolve_models(settings)
        resolve_s = time.perf_counter() - t0
        loads = []
        for _ in range(2):
            t0 = time.perf_counter()
            renderer = build_renderer(settings, models)
            loads.append(time.perf_counter() - t0)
            del renderer
        t0 = time.perf_counter()
        build_embeddings(settings, models).load()
        clip_s = time.perf_counter() - t0
    return {
        "profile": models.profile,
        "import_s": round(import_s, 3),
        "resolve_s": round(resolve_s, 3),
        "renderer_load_s": [round(x, 3) for x in loads],
        "clip_load_s": round(clip_s, 3),
        "dtype": "float32 (CPU)",
        "peak_rss_mb": peak_rss_mb(),
    }


def _disk_gb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9, 3)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--starts", type=int, help="warm API starts (preset: 1 tiny, 3 full)")
    parser.add_argument("--models-dir", help="a built tiny model folder to reuse (else one is built)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where sd15-random is built (several GB)")
    parser.add_argument("--no-first-run", action="store_true", help="skip the start that builds tiny models")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.models import build_sd15_random, build_tiny

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-tiny-") as tmp:
        tiny = Path(args.models_dir) if args.models_dir else build_tiny(Path(tmp) / "tiny")
        log("startup: API process start to /readyz (tiny models)")
        results["api"] = measure_api_start(tiny, args.starts or STARTS[args.size], not args.no_first_run)
        log("startup: tiny model load (fresh process)")
        results["load"] = {
            "tiny": {**run_child("benchmarks.startup", ["--child-load", str(tiny)]), "disk_gb": _disk_gb(tiny)}
        }
    if args.size == "full":
        folder = Path(args.cache) / "sd15-random"
        t0 = time.perf_counter()
        built_now = not (folder / "s2r-models.json").exists()
        if built_now:
            log(f"startup: building sd15-random into {folder} (several GB, minutes)")
        build_sd15_random(folder)
        build_s = time.perf_counter() - t0
        log("startup: sd15-random model load (fresh process)")
        load = run_child("benchmarks.startup", ["--child-load", str(folder)], timeout=3600)
        results["load"]["sd15-random"] = {
            **load,
            "disk_gb": _disk_gb(folder),
            "build_s": round(build_s, 1) if built_now else None,
        }
    return results


def summary(result: dict) -> str:
    r = result["results"]
    api = r["api"]
    lines = [f"startup ({result['size']}), {result['machine']['cpus']} CPUs, commit {result['machine']['commit']}"]
    if "first_run" in api:
        first = api["first_run"]
        lines.append(f"  first run (builds tiny): /livez {first['livez_s']} s, /readyz {first['readyz_s']} s")
    warm = api["warm"]
    lines.append(
        f"  warm start x{warm['starts']}: /livez p50 {warm['livez']['p50_ms'] / 1000:.2f} s,"
        f" /readyz p50 {warm['readyz']['p50_ms'] / 1000:.2f} s"
    )
    for name, load in r["load"].items():
        lines.append(
            f"  load {name}: imports {load['import_s']} s, renderer {load['renderer_load_s']} s,"
            f" CLIP {load['clip_load_s']} s, peak RSS {load['peak_rss_mb']} MB, {load['disk_gb']} GB on disk"
        )
    return "\n".join(lines)


def _child_main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup")
    parser.add_argument("--child-load", required=True, help="model folder to load")
    print(json.dumps(measure_load(parser.parse_args().child_load)))


if __name__ == "__main__":
    _child_main()
