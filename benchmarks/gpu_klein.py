"""The GPU benchmark's FLUX.2 [klein] rows (`python -m benchmarks gpu --families klein`): the sketch and
one style image as reference images through our generator (render/klein.py), bf16 on CUDA.

Rows, each warmed up then timed (CUDA synchronised), peak VRAM reset in between:
  klein-quality  1024², 4 steps (the distilled schedule; `--klein-resolution`)
  klein-fast     3 steps at the fast preset's size (768 unless smaller)
  klein-live     2 steps at the live preset's size (512 unless smaller)
Every render goes through the broken-image check (constant or non-finite: NaN/inf in bf16), and each
row records the structure F1 of its last render against the sketch's lines (the score every render
carries): with random weights it means nothing; with `--klein-models klein` it is the first measure of
how well geometry holds without a ControlNet, to set beside the other families' on the same sketch.

Models: `klein-random` (the 4B architecture with random weights: the real FLOPs and memory), built in
`--cache` on first use (about 16 GB written); `--klein-models klein` uses the real weights from the
Hugging Face cache, or a model folder. On CPU (`--allow-cpu`) the same code renders the tiny-klein
stand-in: a code-path check whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .gpu_measure import FamilyBuilds, check_images, family_models, measure_rows, row_lines

RUNS = {"tiny": (1, 2), "full": (1, 3)}  # (warm-up, timed) per row
PROMPT = "a ceramic vase on a wooden table, studio photograph, soft light"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--klein-models", help="klein-random (default on CUDA), klein (real weights), or a folder")
    parser.add_argument("--klein-resolution", type=int, default=1024)


def klein_models(args: argparse.Namespace, device: str, tmp: Path) -> str:
    """The S2R_MODELS value of the klein rows: a folder, or the `klein` profile (hub cache)."""
    from sketch2render.models import build_klein_random, build_tiny_klein

    builds = FamilyBuilds("klein", build_klein_random, build_tiny_klein, random_gb=16)
    return family_models(args.klein_models, device, Path(args.cache), tmp, builds)


def run_klein(args: argparse.Namespace, device: str, warmup: int | None, runs: int | None) -> dict[str, Any]:
    """The klein rows; `warmup`/`runs` given on the command line win over the preset."""
    from sketch2render.config import Settings
    from sketch2render.families import KLEIN
    from sketch2render.models import resolve_models
    from sketch2render.render.klein import STYLE_SIDE, fit
    from sketch2render.render.ports import StyleReference
    from sketch2render.render.quality import structure_fidelity
    from sketch2render.render.renderer import build_renderer
    from sketch2render.schemas import RenderParams, StyleHit, StyleRecord
    from sketch2render.sketch import imaging

    from .gpu import inputs

    warmup = warmup if warmup is not None else RUNS[args.size][0]
    runs = runs or RUNS[args.size][1]
    resolution = args.klein_resolution
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2r-bench-klein-") as tmp:
        folder = klein_models(args, device, Path(tmp))
        build_s = round(time.perf_counter() - started, 1)
        settings = Settings(home=Path(tmp) / "home", models=folder, device=device)
        models = resolve_models(settings)
        if models.family != "klein":
            raise ValueError(f"--klein-models {settings.models!r} is a {models.family} model set, not klein")
        sizes = {speed: min(resolution, KLEIN.preset(speed).max_size or resolution) for speed in KLEIN.speeds}
        params = {
            speed: RenderParams(family="klein", prompt=PROMPT, speed=speed, size=size, seed=0)
            for speed, size in sizes.items()
        }
        _, style, _ = inputs(resolution)
        record = StyleRecord(id="0" * 16, title="bench style", width=512, height=512, added_at=0.0)
        hit = StyleHit(style=record, score=1.0, weight=1.0)
        references = [StyleReference(hit, fit(style, STYLE_SIDE))]
        loaded: dict[str, Any] = {}

        def load():
            if "generator" not in loaded:
                loaded["generator"] = build_renderer(settings, models)
            return loaded["generator"]

        def call(speed: str):
            control, _, sketch = inputs(sizes[speed])

            def render(generator, i):
                generated = generator.generate(
                    control, params[speed], seed=i, style_embeds=references, sketch=sketch.convert("RGB")
                )
                check_images(generated.images, f"klein-{speed}")
                loaded[f"last-{speed}"] = (generated.images[0], sketch)
                return generated.denoise_s, generated.vae_decode_s

            return render

        rows = {f"klein-{speed}": (load, call(speed)) for speed in params}

        def after(name: str, result: dict[str, Any]) -> None:
            speed = name.split("-", 1)[1]
            image, sketch = loaded[f"last-{speed}"]
            result["size"] = sizes[speed]
            result["steps"] = params[speed].steps
            result["structure_f1"] = structure_fidelity(imaging.detect_edges(sketch).edges, image).f1

        results = measure_rows(rows, args.only, device, warmup, runs, after=after)
        generator = loaded.get("generator")
        offload = generator.offload if generator is not None else None
        loaded.clear()
    return {
        "profile": models.profile,
        "models": models.ids(),
        "resolution": resolution,
        "offload": offload,
        "warmup": warmup,
        "runs": runs,
        "build_s": build_s,
        "wall_s": round(time.perf_counter() - started, 1),
        "configs": results,
    }


def klein_lines(block: dict[str, Any]) -> list[str]:
    lines = [
        f"  klein: {block['profile']}, {block['resolution']}px (quality), offload {block['offload']}; "
        f"{block['wall_s']} s in all ({block['build_s']} s to build the models)"
    ]
    return lines + row_lines(
        block["configs"],
        lambda c: (
            f"{c['size']}px {c['steps']} steps p50 {c['p50_s']:.3f} s, p99 {c['p99_s']:.3f} s, "
            f"peak VRAM {c['peak_vram_gb']} GB (weights {c['weights_vram_gb']} GB), F1 {c['structure_f1']}"
        ),
    )
