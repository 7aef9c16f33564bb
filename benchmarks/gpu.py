"""GPU speed and memory of a render: SD 1.5 + ControlNet (canny) + IP-Adapter, 512×512, 20 steps,
CFG 7.5, batch 1, on the `sd15-random` profile (the real architecture with random weights: the
same FLOPs and memory as the real checkpoints). CUDA only: elsewhere it prints
{"skipped": "no CUDA"} and exits 0 (`--allow-cpu` runs the same code on CPU with the tiny models,
to check the code path; those numbers mean nothing).

Configurations, each loaded fresh, warmed up, then timed (CUDA synchronised) with peak VRAM
(`torch.cuda.max_memory_allocated`) reset in between:
  ours          our default: `Renderer.from_models` (fp16, PyTorch SDPA attention), the style
                embedding computed once (`Renderer.encode_style`), `generate(style_embeds=...)`.
  seed          the seed system: fp16, attention slicing, `ip_adapter_image=` on every call
                (the IP-Adapter image encoder runs each time); the diffusers pipe called
                directly. With diffusers 0.42 `enable_attention_slicing()` and an IP-Adapter do
                not run together (either order fails, see `enable_seed_slicing`), so slicing
                covers every attention layer but the 16 IP-Adapter cross-attention layers.
  ours+image-encoder-cpu   ours with the (then idle) image encoder moved off the GPU.
  ours-fast / ours-live   the speed presets on the same renderer: the LCM-LoRA stand-in with
                LCMScheduler, 6 steps (fast) or 3 steps and the TAESD stand-in decoder (live),
                guidance 1 (no CFG doubling).
Every configuration fails loudly when a render is constant or not finite (NaN/inf latents in fp16).
  ours-plain    ours without the fast path's defaults (S2R_CHANNELS_LAST / S2R_FUSE_QKV off): the
                baseline that says whether those defaults pay.
  ours+compile, ours-fast+compile, ours-live+compile   S2R_COMPILE=default (`--compile-mode`):
                one renderer, warmed up at load (`Renderer.warm_up`, the compile time is its
                load_s), then each preset timed; `--no-compile` leaves them out.
  ours+tiny-vae with --tiny-vae: a random-weight `AutoencoderTiny` decoder (timing only).
"recommend" at the end says which fast-path setting beat its baseline in this run.
Target on one H100: ≤ 0.3 s per image, ≤ 5 GB peak (the seed system: 15 s on a T4, 6 GB).

`--families sd15,sdxl` (default both): the rows above are the sd15 family's; the sdxl family's
(quality 1024² 30 steps, fast, live, each with and without compile, the same image check; on
sdxl-random) are in gpu_sdxl.py and come back under "sdxl"; `--families klein` adds FLUX.2 [klein]'s
(quality 1024² 4 steps, fast, live, with the structure F1 of each; on klein-random, ~16 GB built on
first use: opt-in) from gpu_klein.py under "klein". `--only` names rows of any.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, ratio
from .gpu_api import measure_api
from .gpu_klein import add_arguments as add_klein_arguments
from .gpu_klein import klein_lines, run_klein
from .gpu_measure import check_images, measure_config
from .gpu_sdxl import add_arguments as add_sdxl_arguments
from .gpu_sdxl import run_sdxl, summary_lines

DEFAULT_CACHE = Path(os.environ.get("S2R_BENCH_CACHE", Path.home() / ".cache" / "sketch2render-bench"))
PROMPT = "a lighthouse on a cliff, oil painting, dramatic light"
TARGETS = {"p50_s": 0.3, "peak_vram_gb": 5.0}
RUNS = {"tiny": (1, 3), "full": (3, 20)}  # (warm-up, timed) per configuration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--families", default="sd15,sdxl", help="comma-separated: sd15, sdxl, klein (default sd15,sdxl)"
    )
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument("--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune"])
    parser.add_argument("--tiny-vae", action="store_true", help="also: a tiny VAE decoder (AutoencoderTiny)")
    parser.add_argument("--runs", type=int, help="timed runs per configuration (preset: 3 tiny, 20 full)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per configuration (preset: 1 tiny, 3 full)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--models-dir", help="model folder (default: sd15-random built in --cache)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where sd15-random is built (several GB)")
    parser.add_argument("--only", help="comma-separated configurations to run (e.g. ours,seed)")
    parser.add_argument("--no-api", action="store_true", help="leave out the request-to-image rows (api-*)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on CPU (tiny models): checks the code only")
    add_sdxl_arguments(parser)
    add_klein_arguments(parser)


# --------------------------------------------------------------------------- inputs


def inputs(resolution: int):
    """(control image, style image, sketch): a 2048² synthetic sketch at the render size, its edge
    map, and a bundled style image."""
    from PIL import Image

    from sketch2render.sketch import imaging
    from sketch2render.styles import default_styles_dir

    from .overhead import make_sketch

    sketch = imaging.resize_for_generation(make_sketch(2048), resolution)
    control = imaging.detect_edges(sketch).control_image()
    with Image.open(default_styles_dir() / "hokusai_great_wave.jpg") as im:
        style = im.convert("RGB").resize((512, 512))
    return control, style, sketch


# --------------------------------------------------------------------------- configurations


def load_ours(settings, models, variant: str, warm_up_size: int = 512):
    """Our renderer built from settings (the fast path is settings), with one optional change."""
    from sketch2render.render.renderer import build_renderer

    if variant == "plain":
        settings = settings.model_copy(update={"channels_last": False, "fuse_qkv": False})
    renderer = build_renderer(settings, models)
    pipe = renderer.pipe
    if renderer.fast.compile_mode != "off":
        renderer.bench_warmup_s = renderer.warm_up(warm_up_size)  # what the service does at start
    if variant == "tiny-vae":
        from diffusers import AutoencoderTiny

        pipe.vae = AutoencoderTiny().to(renderer.device, renderer.dtype).eval()
    return renderer


def enable_seed_slicing(pipe) -> None:
    """The seed system's `enable_attention_slicing()`, as far as diffusers 0.42 lets it run with an
    IP-Adapter (the product's own memory option, see generation.enable_attention_slicing)."""
    from sketch2render.render.renderer import enable_attention_slicing

    enable_attention_slicing(pipe)


def load_seed(models, device: str):
    """The seed system's pipeline: fp16, the IP-Adapter, attention slicing."""
    import torch
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UniPCMultistepScheduler

    dtype = torch.float16 if device == "cuda" else torch.float32
    common = {"dtype": dtype, "use_safetensors": True, "local_files_only": True}
    controlnet = ControlNetModel.from_pretrained(models.controlnet, **common)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        models.base, controlnet=controlnet, safety_checker=None, requires_safety_checker=False, **common
    )
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)  # same steps cost as ours
    pipe.load_ip_adapter(
        models.ip_adapter,
        subfolder=models.ip_adapter_subfolder,
        weight_name=models.ip_adapter_weight,
        local_files_only=True,
    )
    enable_seed_slicing(pipe)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        return {"skipped": "no CUDA"}
    from sketch2render.models.library_logs import quiet_libraries

    families = [name.strip() for name in args.families.split(",") if name.strip()]
    unknown = sorted(set(families) - {"sd15", "sdxl", "klein"})
    if unknown:
        raise SystemExit(f"--families: unknown family {unknown[0]!r} (sd15, sdxl, klein)")
    if args.only:  # a family none of whose rows is named is left out
        named = {n.strip() for n in args.only.split(",")}

        def family_of_row(row: str) -> str:
            prefix = row.split("-", 1)[0]
            return prefix if prefix in ("sdxl", "klein") else "sd15"

        families = [f for f in families if any(family_of_row(n) == f for n in named)]
    quiet_libraries()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (code-path check only)",
        "torch": torch.__version__,
        "families": families,
    }
    if "sd15" in families:
        started = time.perf_counter()
        out.update(run_sd15(args, device))
        out["wall_s"] = round(time.perf_counter() - started, 1)  # the sd15 rows' whole time
    if "sdxl" in families:
        out["sdxl"] = run_sdxl(args, device, args.warmup, args.runs)
    if "klein" in families:
        out["klein"] = run_klein(args, device, args.warmup, args.runs)
    return out


def run_sd15(args: argparse.Namespace, device: str) -> dict[str, Any]:
    import torch

    from sketch2render.config import Settings
    from sketch2render.models import build_sd15_random, build_tiny, resolve_models
    from sketch2render.schemas import RenderParams

    warmup, runs = RUNS[args.size]
    warmup, runs = args.warmup if args.warmup is not None else warmup, args.runs or runs
    with tempfile.TemporaryDirectory(prefix="s2r-bench-gpu-") as tmp:
        if args.models_dir:
            folder = Path(args.models_dir)
        elif device == "cpu":
            folder = build_tiny(Path(tmp) / "tiny")
        else:
            log(f"gpu: sd15-random in {Path(args.cache) / 'sd15-random'} (built on first use: several GB)")
            folder = build_sd15_random(Path(args.cache) / "sd15-random")
        settings = Settings(home=Path(tmp) / "home", models=str(folder), device=device)
        models = resolve_models(settings)
        control, style, sketch = inputs(args.resolution)
        params = RenderParams(prompt=PROMPT, steps=args.steps, guidance_scale=7.5, size=args.resolution, seed=0)

        def ours_call(state, i, render_params=params):
            generated = state.generate(control, render_params, seed=i, style_embeds=state.bench_embeds)
            check_images(generated.images, render_params.speed)
            return generated.denoise_s, generated.vae_decode_s

        def preset_call(speed: str):
            preset = RenderParams(prompt=PROMPT, speed=speed, size=args.resolution, seed=0)
            return lambda state, i: ours_call(state, i, preset)

        compiled: dict = {}  # one compiled renderer for the three compiled rows

        def ours_build(variant: str = "", encoder_off: bool = False):
            def build():
                if variant == "compile":
                    if not compiled:
                        with_compile = settings.model_copy(update={"compile": args.compile_mode})
                        compiled["r"] = load_ours(with_compile, models, "")
                        compiled["r"].bench_embeds = compiled["r"].encode_style(style)
                    return compiled["r"]
                renderer = load_ours(settings, models, variant)
                renderer.bench_embeds = renderer.encode_style(style)  # once, as the library caches it
                if encoder_off:
                    renderer.pipe.image_encoder.to("cpu")
                    if device == "cuda":
                        torch.cuda.empty_cache()
                return renderer

            return build

        def seed_call(pipe, i):
            pipe(
                prompt=PROMPT,
                negative_prompt=params.negative_prompt,
                image=control,
                ip_adapter_image=style,
                num_inference_steps=args.steps,
                guidance_scale=7.5,
                controlnet_conditioning_scale=1.5,
                width=control.width,
                height=control.height,
                generator=torch.Generator("cpu").manual_seed(i),
            )
            return None

        configs: dict[str, tuple] = {
            "ours": (ours_build(), ours_call),
            "seed": (lambda: load_seed(models, device), seed_call),
            "ours-plain": (ours_build("plain"), ours_call),
            "ours+image-encoder-cpu": (ours_build(encoder_off=True), ours_call),
            "ours-fast": (ours_build(), preset_call("fast")),  # LCM-LoRA, 6 steps, guidance 1
            "ours-live": (ours_build(), preset_call("live")),  # LCM-LoRA, 3 steps, TAESD decode
        }
        if not args.no_compile and device == "cuda":
            configs["ours+compile"] = (ours_build("compile"), ours_call)
            configs["ours-fast+compile"] = (ours_build("compile"), preset_call("fast"))
            configs["ours-live+compile"] = (ours_build("compile"), preset_call("live"))
        if args.tiny_vae:
            configs["ours+tiny-vae"] = (ours_build("tiny-vae"), ours_call)
        if args.only:
            wanted = {n.strip() for n in args.only.split(",")}
            configs = {n: c for n, c in configs.items() if n in wanted}
        results: dict[str, Any] = {}
        for name, (build, call) in configs.items():
            log(f"gpu: {name}")
            try:
                results[name] = measure_config(name, build, call, device, warmup, runs)
            except Exception as exc:  # one failing option (e.g. compile) must not hide the others
                log(f"gpu: {name} failed: {type(exc).__name__}: {exc}")
                results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        if not args.no_api and (not args.only or "api" in args.only):
            log("gpu: api (request to image through a running API)")
            try:
                results.update(
                    measure_api(folder, device, sketch, style, prompt=PROMPT, resolution=args.resolution,
                                warmup=max(1, warmup), runs=runs)
                )  # fmt: skip
            except Exception as exc:  # the model rows stand on their own
                log(f"gpu: api failed: {type(exc).__name__}: {exc}")
                results["api"] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    ours, seed = results.get("ours", {}), results.get("seed", {})
    return {
        "profile": models.profile,
        "resolution": args.resolution,
        "steps": args.steps,
        "guidance_scale": 7.5,
        "batch": 1,
        "warmup": warmup,
        "runs": runs,
        "targets": TARGETS,
        "configs": results,
        "ratio_seed_to_ours_p50": ratio(seed.get("p50_s"), ours.get("p50_s")),
        "ratio_seed_to_ours_peak_vram": ratio(seed.get("peak_vram_gb"), ours.get("peak_vram_gb")),
        "recommend": recommend(results),
    }


def recommend(results: dict[str, Any]) -> dict[str, str]:
    """Which fast-path setting paid in this run (p50 at least 3 % lower than its baseline)."""

    def faster(name: str, baseline: str) -> str:
        a, b = results.get(name, {}).get("p50_s"), results.get(baseline, {}).get("p50_s")
        if a is None or b is None:
            return "not measured"
        return f"{'on' if a < 0.97 * b else 'off'} ({b:.4f} s -> {a:.4f} s)"

    return {
        "S2R_CHANNELS_LAST+S2R_FUSE_QKV": faster("ours", "ours-plain"),
        "S2R_COMPILE": faster("ours+compile", "ours"),
        "S2R_COMPILE (fast)": faster("ours-fast+compile", "ours-fast"),
    }


def summary(result: dict) -> str:
    r = result["results"]
    lines = [f"gpu ({result['size']}) on {r['device']}, commit {result['machine']['commit']}"]
    if "configs" in r:
        lines.extend(sd15_lines(r))
    if "sdxl" in r:
        lines.extend(summary_lines(r["sdxl"]))
    if "klein" in r:
        lines.extend(klein_lines(r["klein"]))
    return "\n".join(lines)


def sd15_lines(r: dict) -> list[str]:
    lines = [f"  sd15: {r['profile']}, {r['resolution']}px, {r['steps']} steps, CFG"]
    for name, c in r["configs"].items():
        if "error" in c:
            lines.append(f"  {name:24} error: {c['error']}")
        elif "request_to_image" in c:
            t = c["request_to_image"]
            lines.append(f"  {name:24} request to image p50 {t['p50_ms']:.1f} ms, p95 {t.get('p95_ms', '?')} ms")
        else:
            lines.append(
                f"  {name:24} p50 {c['p50_s']:.3f} s, p99 {c['p99_s']:.3f} s, peak VRAM {c['peak_vram_gb']} GB"
                f" (weights {c['weights_vram_gb']} GB)"
            )
    lines.append(f"  seed/ours: time {r['ratio_seed_to_ours_p50']}, peak VRAM {r['ratio_seed_to_ours_peak_vram']}")
    lines.extend(f"  recommend {name}: {verdict}" for name, verdict in r.get("recommend", {}).items())
    return lines
