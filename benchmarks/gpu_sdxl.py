"""The GPU benchmark's SDXL rows (`python -m benchmarks gpu --families sdxl`): SDXL + the union
ControlNet (canny mode) + IP-Adapter Plus through our renderer, fp16 on CUDA, with the fp16-fix VAE
that the sdxl profiles load (SDXL's own VAE overflows in fp16: NaN latents decode to a black or
non-finite image).

Rows, each warmed up then timed (CUDA synchronised), peak VRAM reset in between:
  sdxl-quality   1024², 30 steps, CFG 5 (the family's quality preset; `--sdxl-resolution/--sdxl-steps`)
  sdxl-fast      the SDXL-Lightning LoRA, Euler trailing, 4 steps, no CFG, at the same size
  sdxl-live      as fast, decoded by TAESDXL, at the live preset's size (768 unless smaller)
  sdxl-*+compile the same three on one renderer with S2R_COMPILE (its warm-up is the load time)
Every row checks every image (`check_images`): a constant or non-finite render fails that row, and
each row records which VAE decoded it and whether diffusers upcast it to fp32 (`force_upcast`), so a
run that fell back to SDXL's own VAE shows.

Models: `sdxl-random` (the full-size architecture with random weights: the real FLOPs and memory),
built in `--cache` on first use (about 10 GB written); `--sdxl-models sdxl` uses the real weights
from the Hugging Face cache, or a model folder. On CPU (`--allow-cpu`) the same code renders the
tiny-sdxl stand-in: a code-path check whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .gpu_measure import FamilyBuilds, check_images, family_models, measure_rows, row_lines

RUNS = {"tiny": (1, 2), "full": (1, 3)}  # (warm-up, timed) per row: a 30-step 1024² render is seconds
PROMPT = "a ceramic vase on a wooden table, studio photograph, soft light"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sdxl-models", help="sdxl-random (default on CUDA), sdxl (real weights), or a folder")
    parser.add_argument("--sdxl-resolution", type=int, default=1024)
    parser.add_argument("--sdxl-steps", type=int, help="quality steps (default: the family's, 30)")


def sdxl_models(args: argparse.Namespace, device: str, tmp: Path) -> str:
    """The S2R_MODELS value of the SDXL rows: a folder, or the `sdxl` profile (hub cache)."""
    from sketch2render.models import build_sdxl_random, build_tiny_sdxl

    builds = FamilyBuilds("sdxl", build_sdxl_random, build_tiny_sdxl, random_gb=10)
    return family_models(args.sdxl_models, device, Path(args.cache), tmp, builds)


def free(loaded: dict[str, Any], device: str) -> None:
    """Drop the renderers loaded so far (and their GPU memory) before loading another."""
    import gc

    import torch

    loaded.clear()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def vae_record(renderer, source: str | None) -> dict[str, Any]:
    """Which VAE decodes the quality renders (None: the base's own), and whether diffusers upcasts it to fp32."""
    vae = renderer.pipe.vae
    return {
        "source": source,
        "force_upcast": bool(vae.config.get("force_upcast", False)),
        "dtype": str(next(vae.parameters()).dtype).removeprefix("torch."),
    }


def run_sdxl(args: argparse.Namespace, device: str, warmup: int | None, runs: int | None) -> dict[str, Any]:
    """The SDXL rows; `warmup`/`runs` given on the command line win over the preset."""
    from sketch2render.config import Settings
    from sketch2render.families import SDXL
    from sketch2render.models import resolve_models
    from sketch2render.schemas import RenderParams

    from .gpu import inputs, load_ours

    warmup = warmup if warmup is not None else RUNS[args.size][0]
    runs = runs or RUNS[args.size][1]
    resolution = args.sdxl_resolution
    steps = args.sdxl_steps or SDXL.preset("quality").steps
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2r-bench-sdxl-") as tmp:
        folder = sdxl_models(args, device, Path(tmp))
        build_s = round(time.perf_counter() - started, 1)  # building sdxl-random (seconds when already built)
        settings = Settings(home=Path(tmp) / "home", models=folder, device=device)
        models = resolve_models(settings)
        if models.family != "sdxl":
            raise ValueError(f"--sdxl-models {settings.models!r} is a {models.family} model set, not SDXL")
        control, style, _ = inputs(resolution)
        params = {
            "quality": RenderParams(family="sdxl", prompt=PROMPT, steps=steps, size=resolution, seed=0),
            "fast": RenderParams(family="sdxl", prompt=PROMPT, speed="fast", size=resolution, seed=0),
            "live": RenderParams(family="sdxl", prompt=PROMPT, speed="live", seed=0),  # the preset's size
        }
        if resolution < (SDXL.preset("live").max_size or resolution):
            params["live"] = RenderParams(family="sdxl", prompt=PROMPT, speed="live", size=resolution, seed=0)
        loaded: dict[str, Any] = {}  # one renderer per compile setting, shared by its three rows

        def build(compiled: bool):
            def load():
                key = "compile" if compiled else "eager"
                if key not in loaded:
                    chosen = settings.model_copy(update={"compile": args.compile_mode}) if compiled else settings
                    renderer = load_ours(chosen, models, "", warm_up_size=resolution)
                    renderer.bench_embeds = renderer.encode_style(style)  # once, as the library caches it
                    loaded[key] = renderer
                return loaded[key]

            return load

        def call(speed: str):
            def render(renderer, i):
                generated = renderer.generate(control, params[speed], seed=i, style_embeds=renderer.bench_embeds)
                check_images(generated.images, f"sdxl-{speed}")
                return generated.denoise_s, generated.vae_decode_s

            return render

        rows = {f"sdxl-{speed}": (build(False), call(speed)) for speed in params}
        if not args.no_compile and device == "cuda":
            rows.update({f"sdxl-{speed}+compile": (build(True), call(speed)) for speed in params})

        def before(name: str) -> None:
            if ("compile" if name.endswith("+compile") else "eager") not in loaded:
                free(loaded, device)  # one SDXL in memory at a time: peak VRAM is this renderer's

        def after(name: str, result: dict[str, Any]) -> None:
            result["vae"] = vae_record(rows[name][0](), models.ids().get("vae"))
            result["size"] = params[name.split("-")[1].split("+")[0]].size

        results = measure_rows(rows, args.only, device, warmup, runs, before=before, after=after)
        free(loaded, device)
    return {
        "profile": models.profile,
        "models": models.ids(),
        "resolution": resolution,
        "steps": steps,
        "guidance_scale": SDXL.preset("quality").guidance_scale,
        "warmup": warmup,
        "runs": runs,
        "build_s": build_s,
        "wall_s": round(time.perf_counter() - started, 1),  # the SDXL rows' whole time, build included
        "configs": results,
    }


def summary_lines(block: dict[str, Any]) -> list[str]:
    lines = [
        f"  sdxl: {block['profile']}, {block['resolution']}px, {block['steps']} steps (quality); "
        f"{block['wall_s']} s in all ({block['build_s']} s to build the models)"
    ]
    return lines + row_lines(
        block["configs"],
        lambda c: (
            f"{c['size']}px p50 {c['p50_s']:.3f} s, p99 {c['p99_s']:.3f} s, peak VRAM "
            f"{c['peak_vram_gb']} GB (weights {c['weights_vram_gb']} GB), VAE upcast {c['vae']['force_upcast']}"
        ),
    )
