"""Memory of edits and upscales (CPU, fp32): what the inpaint and img2img pipelines add to a loaded
renderer, and the peak of a tiled upscale against one untiled img2img of the same output.

In a fresh process on `sd15-random` (the real SD 1.5 shapes, random weights; `--size tiny`: the
tiny models): resident memory after loading the service, after building
`StableDiffusionControlNetInpaintPipeline` and `StableDiffusionControlNetImg2ImgPipeline` with
`from_pipe` (and loading the tile ControlNet), the unique parameter bytes of all three pipelines
against their naive sum (shared modules counted once), then the peak resident memory (VmHWM, reset
before each run) of an edit, of tiled upscales x2 and x4 (tile 128), and of the baseline: the x4
output in one 512-px tile. One denoising step each, no classifier-free guidance (CPU time).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, run_child

DEFAULT_CACHE = Path.home() / ".cache" / "sketch2render-bench"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def _unique_bytes(pipes) -> tuple[int, int]:
    """(unique, naive) parameter bytes over the pipelines' torch modules."""
    import torch

    seen: dict[int, int] = {}
    naive = 0
    for pipe in pipes:
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                for tensor in [*module.parameters(), *module.buffers()]:
                    size = tensor.numel() * tensor.element_size()
                    naive += size
                    seen[tensor.data_ptr()] = size
    return sum(seen.values()), naive


def _peak(fn) -> dict[str, float]:
    _reset_peak()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    fn()
    return {"seconds": round(time.perf_counter() - t0, 1), "rss_before_mb": before, "peak_mb": _status_mb("VmHWM")}


def measure(models_dir: str) -> dict[str, Any]:
    """In a fresh process: load, build the derived pipelines, then time and peak each operation."""
    from PIL import Image, ImageDraw

    from sketch2render.config import Settings
    from sketch2render.render import build_service, png_with_recipe
    from sketch2render.render.inpaint import EditInputs, edit_params
    from sketch2render.render.upscale import UpscaleInputs
    from sketch2render.schemas import RenderParams, RenderRecipe

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-hires-") as tmp:
        service = build_service(Settings(home=Path(tmp), models=models_dir, device="cpu", bundled_styles=False))
        renderer = service.renderer
        out["rss_loaded_mb"] = _status_mb("VmRSS")
        with renderer.session("canny", "quality", "none", 0.0):
            inpaint = renderer.derived("StableDiffusionControlNetInpaintPipeline")
        out["rss_with_inpaint_pipeline_mb"] = _status_mb("VmRSS")
        with renderer.session("canny", "quality", "none", 0.0):
            img2img = renderer.derived("StableDiffusionControlNetImg2ImgPipeline", renderer.controlnets.get("tile"))
        out["rss_with_img2img_and_tile_controlnet_mb"] = _status_mb("VmRSS")
        unique, naive = _unique_bytes([renderer.pipe, inpaint, img2img])
        out["parameters_unique_mb"], out["parameters_naive_sum_mb"] = round(unique / 2**20), round(naive / 2**20)
        params = RenderParams(prompt="a box", steps=1, guidance_scale=1.0, style_mode="none", seed=1)
        side = 128
        parent_image = Image.new("RGB", (side, side), (120, 130, 140))
        ImageDraw.Draw(parent_image).rectangle((16, 16, 100, 100), outline=(10, 10, 10), width=3)
        recipe = RenderRecipe(params=params, seed=1, width=side, height=side)
        parent = png_with_recipe(parent_image, recipe)
        mask = Image.new("L", (side, side), 0)
        ImageDraw.Draw(mask).rectangle((32, 32, 96, 96), fill=255)
        import io

        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        control = Image.new("RGB", (side, side))
        edit = EditInputs(parent, control, buffer.getvalue(), edit_params(params, {"prompt": "gold"}))
        out["edit_128"] = _peak(lambda: service.edit(edit))
        for factor in (2, 4):
            inputs = UpscaleInputs(parent, factor=factor, detail_strength=1.0, tile=128, overlap=16)
            out[f"upscale_x{factor}_tile128"] = _peak(lambda inputs=inputs: service.upscale(inputs))
        untiled = UpscaleInputs(parent, factor=4, detail_strength=1.0, tile=512, overlap=0)
        out["baseline_x4_one_512_tile"] = _peak(lambda: service.upscale(untiled))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", help="a built model folder to use (else tiny or sd15-random is built)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where sd15-random is built (several GB)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sketch2render.models import build_sd15_random, build_tiny

    if args.models_dir:
        folder = Path(args.models_dir)
    elif args.size == "tiny":
        folder = build_tiny(Path(args.cache) / "tiny")
    else:
        log(f"hires: sd15-random in {Path(args.cache) / 'sd15-random'} (built on first use: several GB)")
        folder = build_sd15_random(Path(args.cache) / "sd15-random")
    log("hires: load, derived pipelines, edit, upscales (fresh process)")
    return {"models": str(folder), **run_child("benchmarks.hires", ["--child", str(folder)], timeout=7200)}


def summary(result: dict) -> str:
    r = result["results"]
    lines = [
        f"hires ({result['size']}): loaded {r['rss_loaded_mb']} MB;"
        f" + inpaint pipeline {r['rss_with_inpaint_pipeline_mb']} MB;"
        f" + img2img and tile ControlNet {r['rss_with_img2img_and_tile_controlnet_mb']} MB",
        f"  parameters: {r['parameters_unique_mb']} MB unique vs {r['parameters_naive_sum_mb']} MB"
        " if each pipeline had its own",
    ]
    for name in ("edit_128", "upscale_x2_tile128", "upscale_x4_tile128", "baseline_x4_one_512_tile"):
        run = r[name]
        lines.append(f"  {name}: peak {run['peak_mb']} MB (from {run['rss_before_mb']} MB), {run['seconds']} s")
    return "\n".join(lines)


def _child_main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hires")
    parser.add_argument("--child", required=True, help="model folder")
    print(json.dumps(measure(parser.parse_args().child)))


if __name__ == "__main__":
    _child_main()
