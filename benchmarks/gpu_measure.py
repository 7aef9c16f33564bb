"""How the GPU benchmark measures one configuration (gpu.py's SD 1.5 rows, gpu_sdxl.py's and gpu_klein.py's):
load it (timed), warm it up, time its renders (CUDA synchronised), peak VRAM over warm-up and runs,
which attention processors ran, and the broken-image check every render goes through; the models a
family's rows run on and the loop over rows that both newer families share."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import log, stats_ms

GB = 1024**3


def attention_summary(pipe) -> dict[str, dict[str, int]]:
    """Which attention processors the UNet and the ControlNet run (class name -> count)."""
    out = {}
    for name in ("unet", "controlnet"):
        module = getattr(pipe, name, None)
        if module is not None:
            out[name] = dict(Counter(type(p).__name__ for p in module.attn_processors.values()))
    return out


def check_images(images, preset: str) -> None:
    """Fail loudly on a broken render (NaN/inf latents decode to a constant or non-finite image):
    the GPU run is the only place fp16 on CUDA executes."""
    import numpy as np

    for image in images:
        pixels = np.asarray(image, dtype=np.float32)
        if not np.isfinite(pixels).all() or float(pixels.std()) < 1.0:
            raise RuntimeError(
                f"{preset}: the render is constant or not finite (std {pixels.std():.3f}): NaN/inf latents?"
            )


def measure_config(name: str, build, call, device: str, warmup: int, runs: int) -> dict[str, Any]:
    """Load (timed), warm up, time `runs` calls; peak VRAM over warm-up and runs."""
    import torch

    cuda = device == "cuda"
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    state = build()
    load_s = time.perf_counter() - t0
    weights_gb = torch.cuda.memory_allocated() / GB if cuda else None
    t0 = time.perf_counter()
    for i in range(warmup):
        call(state, i)
    if cuda:
        torch.cuda.synchronize()
    warmup_s = time.perf_counter() - t0
    totals, denoise, vae = [], [], []
    for i in range(runs):
        t0 = time.perf_counter()
        parts = call(state, 1000 + i)
        if cuda:
            torch.cuda.synchronize()
        totals.append(time.perf_counter() - t0)
        if parts:
            denoise.append(parts[0])
            vae.append(parts[1])
    out = {
        "load_s": round(load_s, 2),
        "warmup_s": round(warmup_s, 2),
        "latency": stats_ms(totals),
        "p50_s": round(stats_ms(totals)["p50_ms"] / 1000, 4),
        "p99_s": round(stats_ms(totals)["p99_ms"] / 1000, 4),
        "denoise": stats_ms(denoise) if denoise else None,
        "vae_decode": stats_ms(vae) if vae else None,
        "weights_vram_gb": round(weights_gb, 3) if weights_gb is not None else None,
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / GB, 3) if cuda else None,
        "peak_reserved_gb": round(torch.cuda.max_memory_reserved() / GB, 3) if cuda else None,
        "attention": attention_summary(state.pipe if hasattr(state, "pipe") else state),
        "compile_warmup_s": getattr(state, "bench_warmup_s", None),  # seconds per preset, compiled rows
    }
    log(f"gpu: {name}: p50 {out['p50_s']} s, peak VRAM {out['peak_vram_gb']} GB")
    del state
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return out


def family_models(chosen: str | None, device: str, cache: Path, tmp: Path, family: FamilyBuilds) -> str:
    """The S2R_MODELS value of a family's rows: its random full-size stand-in (default on CUDA, built
    into the cache on first use), its real-weights profile (hub cache), its tiny stand-in, or a folder."""
    chosen = chosen or (f"{family.name}-random" if device == "cuda" else f"tiny-{family.name}")
    if chosen == family.name:
        return chosen
    if chosen == f"{family.name}-random":
        log(f"gpu: {chosen} in {cache / chosen} (built on first use: about {family.random_gb} GB)")
        return str(family.build_random(cache / chosen))
    if chosen == f"tiny-{family.name}":
        return str(family.build_tiny(tmp / chosen))
    return chosen


@dataclass(frozen=True)
class FamilyBuilds:
    """How a family's benchmark models are made: its name, the builders of its stand-ins, their size."""

    name: str
    build_random: Callable[[Path], Path]
    build_tiny: Callable[[Path], Path]
    random_gb: int


Row = tuple[Callable[[], Any], Callable[[Any, int], Any]]  # (load the renderer, render once with seed i)


def row_lines(configs: dict[str, Any], describe: Callable[[dict[str, Any]], str]) -> list[str]:
    """One summary line per measured row: `describe`'s words, or the row's error."""
    return [
        f"  {name:24} error: {c['error']}" if "error" in c else f"  {name:24} {describe(c)}"
        for name, c in configs.items()
    ]


def measure_rows(
    rows: dict[str, Row],
    only: str | None,
    device: str,
    warmup: int,
    runs: int,
    *,
    before: Callable[[str], None] = lambda name: None,
    after: Callable[[str, dict[str, Any]], None] = lambda name, result: None,
) -> dict[str, Any]:
    """Measure each row (those `only` names, where given): `before` runs first (free another model),
    `after` adds what the family records per row. One failing row (compile, NaN, out of memory) is
    recorded as its error and must not hide the others."""
    if only:
        wanted = {n.strip() for n in only.split(",")}
        rows = {n: r for n, r in rows.items() if n in wanted}
    results: dict[str, Any] = {}
    for name, (load, render) in rows.items():
        log(f"gpu: {name}")
        before(name)
        try:
            results[name] = measure_config(name, load, render, device, warmup, runs)
            after(name, results[name])
        except Exception as exc:  # noqa: BLE001 - recorded per row
            log(f"gpu: {name} failed: {type(exc).__name__}: {exc}")
            results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    return results
