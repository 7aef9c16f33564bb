"""Everything but denoising: sketch preprocessing, and the API's cost around a render.

1. Preprocessing of a 2048×2048 line drawing (PNG and JPEG), ours vs the seed system in the same
   run, interleaved. Ours: `imaging.decode_image` (safe decode: limits, allowlist, EXIF, RGB),
   `resize_for_generation` (aspect kept, LANCZOS, /8), `detect_edges` (blur, automatic
   thresholds), `control_image()`. The seed's: `PIL.Image.open().convert("RGB")`, a forced
   512×512 resize, `cv2.Canny(100, 200)`, `np.stack` to 3 channels. Target: ours ≤ 30 ms.
   Also a candidate for ours (JPEG draft decoding, OpenCV INTER_AREA resize), see `candidate`,
   and the cost of writing a 512×512 render as PNG (`measure_output_png`).
2. An API round trip: `python -m sketch2render.api` (tiny models) in a child process, C clients
   each submitting renders (steps=1, size=64) and waiting until done: following the job's event
   stream (`--wait sse`, the default, as a browser's EventSource does) or polling (`--wait poll`).
   The one worker renders jobs one at a time, so with C clients most of a request's life is
   waiting for the others.
   Per request, from the job record (server clock) and the client's clock:

       total         = client saw it finished - client started the POST
       queue_wait    = time it waited behind other jobs = min(started, previous job finished) - created
       render        = recipe.timings.denoise + recipe.timings.vae_decode  (the renderer's own work)
       overhead      = total - queue_wait - render     (targets: p50 ≤ 15 ms, p99 ≤ 40 ms)
       overhead_server = overhead - poll lag           (poll lag = client saw it - finished_at;
                                                        with SSE: the push's latency)

   `overhead` covers upload and validation (the sketch is decoded once in the request), the DB
   write, the worker's pick-up, decode + edges + retrieval + style embeds, writing the PNGs and
   recipe, the DB update and the client seeing it (an event, or a poll every `--poll-ms`).
3. The floors under it (`floors.py`): an empty FastAPI endpoint taking the same upload, an event
   pushed from another thread, inflating the sketch's pixels, Chroma's query on three styles, a
   job row inserted and updated; their sum is the least one request can cost here.
Left out: network beyond loopback, TLS, auth (no keys: loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import floors
from .common import fmt_ms, log, ratio, stats_ms
from .server import ApiServer

REPEATS = {"tiny": 5, "full": 40}
FLOOR_REPEATS = {"tiny": 10, "full": 60}
API_RUNS = {"tiny": [(2, 2)], "full": [(1, 16), (16, 8)]}  # (clients, renders per client)
TARGETS = {"preprocess_p50_ms": 30.0, "api_overhead_p50_ms": 15.0, "api_overhead_p99_ms": 40.0}
PROMPT = "a great wave, ukiyo-e woodblock print"
TERMINAL = ("succeeded", "failed", "cancelled")
STYLES = ("hokusai_great_wave.jpg", "vangogh_starry_night.jpg", "monet_water_lilies.jpg")


# --------------------------------------------------------------------------- inputs


def _scores(result: dict | None) -> list:
    """A result's quality scores (`metrics` in servers from before the name `scores`: an A/B's old side)."""
    return (result or {}).get("scores") or (result or {}).get("metrics") or []


def make_sketch(side: int, seed: int = 0):
    """A deterministic line drawing: dark strokes (lines, circles, boxes) on white paper."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(seed)
    canvas = np.full((side, side, 3), 250, dtype=np.uint8)
    scale = side / 512
    for _ in range(40):
        x1, y1, x2, y2 = (int(v) for v in rng.integers(0, side, 4))
        cv2.line(canvas, (x1, y1), (x2, y2), (30, 30, 30), max(1, int(2 * scale)), cv2.LINE_AA)
    for _ in range(12):
        cx, cy = (int(v) for v in rng.integers(0, side, 2))
        radius = int(rng.integers(side // 40, side // 6))
        cv2.circle(canvas, (cx, cy), radius, (20, 20, 20), max(1, int(3 * scale)), cv2.LINE_AA)
    for _ in range(8):
        x, y = (int(v) for v in rng.integers(0, side - side // 5, 2))
        w, h = (int(v) for v in rng.integers(side // 20, side // 5, 2))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), (40, 40, 40), max(1, int(2 * scale)))
    return Image.fromarray(canvas)


def encoded(image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


# --------------------------------------------------------------------------- preprocessing


def ours(data: bytes, limits: dict[str, int]) -> dict[str, float]:
    from sketch2render.sketch import imaging

    t0 = time.perf_counter()
    image = imaging.decode_image(data, **limits, at_least=512)  # as chain.prepare_sketch calls it
    t1 = time.perf_counter()
    small = imaging.resize_for_generation(image, 512)
    t2 = time.perf_counter()
    edges = imaging.detect_edges(small)
    t3 = time.perf_counter()
    edges.control_image()
    t4 = time.perf_counter()
    return {"decode": t1 - t0, "resize": t2 - t1, "edges": t3 - t2, "to_3ch": t4 - t3, "total": t4 - t0}


def candidate(data: bytes) -> dict[str, float]:
    """The prototype that led to today's `imaging` changes, kept as a reference point: JPEGs
    decoded at reduced scale (`Image.draft` to the target size itself; the product keeps >= 2x)
    and the downscale done by OpenCV's INTER_AREA alone (the product box-reduces first).
    The decode does what `decode_image` does (load, EXIF transpose, RGB) minus its header checks,
    which cost microseconds."""
    import cv2
    from PIL import Image, ImageOps

    from sketch2render.sketch import imaging

    t0 = time.perf_counter()
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft("RGB", (512, 512))
    image.load()
    image = ImageOps.exif_transpose(image).convert("RGB")
    t1 = time.perf_counter()
    size = imaging.fit_size(*image.size, longest=512)
    small = Image.fromarray(cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA))
    t2 = time.perf_counter()
    edges = imaging.detect_edges(small)
    t3 = time.perf_counter()
    edges.control_image()
    t4 = time.perf_counter()
    return {"decode": t1 - t0, "resize": t2 - t1, "edges": t3 - t2, "to_3ch": t4 - t3, "total": t4 - t0}


def measure_output_png(repeats: int) -> dict[str, Any]:
    """Writing a 512×512 render: `imaging.encode_png` (what `save_render` uses) vs PNG level 1.
    A painting from the bundled styles stands in for a real render (tiny renders are noise)."""
    from PIL import Image

    from sketch2render.sketch import imaging
    from sketch2render.styles import default_styles_dir

    with Image.open(default_styles_dir() / "hokusai_great_wave.jpg") as im:
        render = im.convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)

    def level1() -> bytes:
        buffer = io.BytesIO()
        render.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    product = [_time_once(lambda: imaging.encode_png(render, {"parameters": "x"})) for _ in range(repeats)]
    fast = [_time_once(level1) for _ in range(repeats)]
    return {
        "image": "512x512 painting (hokusai_great_wave.jpg)",
        "encode_png": stats_ms(product),
        "encode_png_kb": len(imaging.encode_png(render)) // 1024,
        "level_1": stats_ms(fast),
        "level_1_kb": len(level1()) // 1024,
    }


def _time_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def seed_system(data: bytes) -> dict[str, float]:
    """The seed system's preprocessing, as its write-up describes it."""
    import cv2
    from PIL import Image

    t0 = time.perf_counter()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    t1 = time.perf_counter()
    image = image.resize((512, 512))
    t2 = time.perf_counter()
    edges = cv2.Canny(np.array(image), 100, 200)
    t3 = time.perf_counter()
    Image.fromarray(np.stack([edges] * 3, axis=2))
    t4 = time.perf_counter()
    return {"decode": t1 - t0, "resize": t2 - t1, "edges": t3 - t2, "to_3ch": t4 - t3, "total": t4 - t0}


def measure_preprocessing(repeats: int, side: int = 2048) -> dict[str, Any]:
    from sketch2render.config import Settings

    s = Settings()
    limits = {"max_bytes": s.max_upload_bytes, "max_pixels": s.max_image_pixels, "max_side": s.max_side}
    sketch = make_sketch(side)
    out: dict[str, Any] = {"side": side}
    for fmt in ("PNG", "JPEG"):
        data = encoded(sketch, fmt)
        variants = [("ours", ours, (data, limits)), ("seed", seed_system, (data,)), ("candidate", candidate, (data,))]
        runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in variants}
        for _ in range(2):  # warm-up
            for _, fn, fn_args in variants:
                fn(*fn_args)
        for i in range(repeats):  # interleaved, rotating which goes first
            for name, fn, fn_args in variants[i % 3 :] + variants[: i % 3]:
                runs[name].append(fn(*fn_args))
        block = {name: {stage: stats_ms([r[stage] for r in rs]) for stage in rs[0]} for name, rs in runs.items()}
        block["bytes"] = len(data)
        block["ratio_ours_to_seed_p50"] = ratio(block["ours"]["total"]["p50_ms"], block["seed"]["total"]["p50_ms"])
        block["ratio_candidate_to_ours_p50"] = ratio(
            block["candidate"]["total"]["p50_ms"], block["ours"]["total"]["p50_ms"]
        )
        out[fmt.lower()] = block
    return out


# --------------------------------------------------------------------------- API round trip
def prompt_of(seed: int, prompts: str) -> str:
    """The prompt of a render: always the same (someone drawing), or one of its own (new words each time)."""
    return PROMPT if prompts == "same" else f"{PROMPT}, study {seed}"


def _find_timings(job: dict) -> dict:
    result = job.get("result") or {}
    return result.get("timings") or (result.get("recipe") or {}).get("timings") or {}


async def _one_client(
    client, sketch: bytes, renders: int, seed0: int, poll_s: float, wait: str, prompts: str = "same"
) -> list[dict]:
    out = []
    for i in range(renders):
        t_post = time.time()
        response = await client.post(
            "/v1/renders",
            files={"sketch": ("sketch.png", sketch, "image/png")},
            data={"prompt": prompt_of(seed0 + i, prompts), "steps": "1", "size": "64", "seed": str(seed0 + i)},
        )
        t_accepted = time.time()
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/renders answered {response.status_code}: {response.text[:300]}")
        job_id = response.json()["id"]
        waited = _follow_events(client, job_id) if wait == "sse" else _poll(client, job_id, poll_s)
        job, t_seen, t_scores = await waited
        if job.get("status") != "succeeded":
            raise RuntimeError(f"render {job_id} ended {job.get('status')}: {json.dumps(job.get('error'))}")
        out.append({"job": job, "t_post": t_post, "t_accepted": t_accepted, "t_seen": t_seen, "t_scores": t_scores})
    return out


async def _poll(client, job_id: str, poll_s: float) -> tuple[dict, float, float]:
    """GET the job every `poll_s` while it runs (slower while queued) until it ends, then until its
    scores are in: (job, when the end was seen, when the scores were seen)."""
    while True:
        job = (await client.get(f"/v1/renders/{job_id}")).json()
        if job.get("status") in TERMINAL:
            break
        # Slow polls while queued keep 16 clients from flooding a 2-core server.
        await asyncio.sleep(poll_s if job.get("status") == "running" else max(poll_s, 0.05))
    t_seen = time.time()
    while job.get("scores_pending"):  # images reported first, scores a moment later (a client waits)
        await asyncio.sleep(poll_s)
        job = (await client.get(f"/v1/renders/{job_id}")).json()
    return job, t_seen, time.time()


async def _follow_events(client, job_id: str) -> tuple[dict, float, float]:
    """Follow the job's server-sent events (`GET /v1/renders/{id}/events`) as a browser's
    EventSource does: the end arrives as a `status` event, the scores as the last event, then the
    stream closes; one GET for the full record after it."""
    t_seen, event = None, ""
    async with client.stream("GET", f"/v1/renders/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event == "status" and t_seen is None:
                if json.loads(line.removeprefix("data:")).get("status") in TERMINAL:
                    t_seen = time.time()
    t_scores = time.time()
    job = (await client.get(f"/v1/renders/{job_id}")).json()
    return job, t_seen if t_seen is not None else t_scores, t_scores


async def _run_clients(
    url: str, sketch: bytes, clients: int, renders: int, poll_s: float, wait: str, prompts: str = "same"
) -> list[dict]:
    import httpx

    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as client:
        batches = await asyncio.gather(
            *(_one_client(client, sketch, renders, 1000 * c, poll_s, wait, prompts) for c in range(clients))
        )
    return [r for batch in batches for r in batch]


def decompose(runs: list[dict]) -> dict[str, Any]:
    """Split each request's client-observed latency into queue wait, render and overhead."""
    rows = []
    previous_finished = None  # when the job the worker ran before this one finished
    for r in sorted(runs, key=lambda r: r["job"]["started_at"]):
        job, timings = r["job"], _find_timings(r["job"])
        created, started, finished = job["created_at"], job["started_at"], job["finished_at"]
        free_at = created if previous_finished is None else max(created, previous_finished)
        wait = max(0.0, min(started, free_at) - created)
        previous_finished = finished
        render = float(timings.get("denoise", 0.0)) + float(timings.get("vae_decode", 0.0))
        total = r["t_seen"] - r["t_post"]
        lag = max(0.0, r["t_seen"] - finished)
        rows.append(
            {
                "total": total,
                "submit": r["t_accepted"] - r["t_post"],
                "queue_wait": wait,
                "pickup": max(0.0, started - free_at),
                "render": render,
                **{stage: float(timings.get(stage, 0.0)) for stage in ("decode", "edges", "retrieval", "embeds")},
                "worker_other": (finished - started) - render,
                "poll_lag": lag,
                "overhead": total - wait - render,
                "overhead_server": total - wait - render - lag,
                "scores_after_images": r["t_scores"] - r["t_seen"],  # 0 when scored before the job ended
            }
        )
    return {k: stats_ms([row[k] for row in rows]) for k in (rows[0] if rows else [])}


def _add_styles(url: str) -> int:
    import httpx

    from sketch2render.styles import default_styles_dir, load_manifest

    wanted = {name: meta for path, meta in load_manifest(default_styles_dir()) if (name := path.name) in STYLES}
    with httpx.Client(base_url=url, timeout=60.0) as client:
        for name, meta in wanted.items():
            data = (default_styles_dir() / name).read_bytes()
            form = {"title": meta.title, "tags": ",".join(meta.tags), "description": meta.description}
            response = client.post("/v1/styles", files={"image": (name, data, "image/jpeg")}, data=form)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST /v1/styles answered {response.status_code}: {response.text[:300]}")
    return len(wanted)


def measure_api(
    runs: list[tuple[int, int]], poll_ms: float, models: str, wait: str = "sse", prompts: str = "same"
) -> dict[str, Any]:
    """The API round trip, first as it was before the overhead work (`benchmarks.api_before`: decode twice,
    scores before the job ends), then as it is, in the same run with the same inputs."""
    sketch = encoded(make_sketch(512, seed=1), "PNG")
    out: dict[str, Any] = {
        "sketch": "512x512 PNG", "render": "tiny models, steps=1, size=64", "wait": wait, "prompts": prompts
    }  # fmt: skip
    if wait == "poll":
        out["poll_ms"] = poll_ms
    for variant, module in (("before", "benchmarks.api_before"), ("after", "sketch2render.api")):
        out[variant] = _measure_server(module, runs, (poll_ms / 1000, wait, prompts), models, sketch)
    for key in out["after"]:
        if key.startswith("clients_"):
            b, a = out["before"][key], out["after"][key]
            out[f"ratio_after_to_before_{key}"] = {
                "overhead_p50": ratio(a["overhead"]["p50_ms"], b["overhead"]["p50_ms"]),
                "overhead_p99": ratio(a["overhead"]["p99_ms"], b["overhead"]["p99_ms"]),
                "renders_per_s": ratio(a["renders_per_s"], b["renders_per_s"]),
            }
    return out


def _measure_server(module: str, runs: list[tuple[int, int]], waiting, models: str, sketch: bytes) -> dict:
    """`waiting`: (poll interval in s, "sse" | "poll", "same" | "distinct" prompts)."""
    out: dict[str, Any] = {"server": module}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-api-") as tmp:
        with ApiServer(Path(tmp) / "home", models=models, module=module, queue_max="100000") as server:
            out["ready"] = {k: v for k, v in server.wait_ready().items() if k != "readyz"}
            out["styles_added"] = _add_styles(server.url)
            asyncio.run(_run_clients(server.url, sketch, 1, 3, *waiting))  # warm-up (style embeds cached)
            for clients, renders in runs:
                log(f"overhead: API ({module}), {clients} client(s) x {renders} renders")
                t0 = time.perf_counter()
                results = asyncio.run(_run_clients(server.url, sketch, clients, renders, *waiting))
                wall = time.perf_counter() - t0
                styles_used = sum(
                    1 for r in results if any(h.get("weight") for h in (r["job"]["result"] or {}).get("styles", []))
                )
                scored = sum(1 for r in results if _scores(r["job"]["result"]))
                out[f"clients_{clients}"] = {
                    "clients": clients,
                    "requests": len(results),
                    "wall_s": round(wall, 3),
                    "renders_per_s": round(len(results) / wall, 2),
                    "with_style": styles_used,
                    "with_scores": scored,
                    **decompose(results),
                }
    return out


# --------------------------------------------------------------------------- runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, help="preprocessing repeats (preset: 5 tiny, 40 full)")
    parser.add_argument("--clients", help="API: these numbers of concurrent clients, comma-separated (e.g. 1,16)")
    parser.add_argument("--renders", help="API: renders per client, one per --clients entry (e.g. 8,1)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="API: poll interval while running (ms)")
    parser.add_argument(
        "--wait", choices=("sse", "poll"), default="sse",
        help="API: how a client waits for its render: the event stream (default) or GET every --poll-ms",
    )  # fmt: skip
    parser.add_argument(
        "--prompts", choices=("same", "distinct"), default="same",
        help="API: every render the same prompt (drawing: kept embeddings and search answers) or each its own",
    )  # fmt: skip
    parser.add_argument("--models", default="tiny", help="S2R_MODELS of the API (a built tiny folder saves time)")
    parser.add_argument("--skip-api", action="store_true", help="preprocessing only")


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"targets": TARGETS}
    log("overhead: preprocessing a 2048x2048 sketch, ours vs the seed system")
    results["preprocess"] = measure_preprocessing(args.repeats or REPEATS[args.size])
    results["output_png"] = measure_output_png(args.repeats or REPEATS[args.size])
    if not args.skip_api:
        runs = API_RUNS[args.size]
        if args.clients:
            clients = [int(c) for c in str(args.clients).split(",")]
            renders = [int(r) for r in str(args.renders).split(",")] if args.renders else [runs[-1][1]]
            runs = [(c, renders[min(i, len(renders) - 1)]) for i, c in enumerate(clients)]
        results["api"] = measure_api(runs, args.poll_ms, args.models, args.wait, args.prompts)
        log("overhead: the floors under one request (benchmarks/floors.py)")
        results["floors"] = floors.measure(encoded(make_sketch(512, seed=1), "PNG"), FLOOR_REPEATS[args.size])
        after = results["api"]["after"].get("clients_1")
        if after:
            results["floors"]["one_client_overhead_over_floors"] = ratio(
                after["overhead"]["p50_ms"], results["floors"]["sum_p50_ms"]
            )
    return results


def summary(result: dict) -> str:
    r = result["results"]
    lines = [f"overhead ({result['size']}), {result['machine']['cpus']} CPUs, commit {result['machine']['commit']}"]
    for fmt in ("png", "jpeg"):
        block = r["preprocess"][fmt]
        lines.append(
            f"  2048² {fmt.upper()}: ours {fmt_ms(block['ours']['total'])}; seed {fmt_ms(block['seed']['total'])};"
            f" ours/seed {block['ratio_ours_to_seed_p50']}; candidate {fmt_ms(block['candidate']['total'])}"
        )
    png = r["output_png"]
    lines.append(f"  512² render to PNG: encode_png {fmt_ms(png['encode_png'])}; level 1 {fmt_ms(png['level_1'])}")
    api = r.get("api") or {}
    for variant in ("before", "after"):
        for key, block in (api.get(variant) or {}).items():
            if key.startswith("clients_"):
                lines.append(
                    f"  API {variant:6} {block['clients']} client(s), {block['requests']} renders:"
                    f" overhead {fmt_ms(block['overhead'])}; without poll lag {fmt_ms(block['overhead_server'])};"
                    f" submit {fmt_ms(block['submit'])}; {block['renders_per_s']} renders/s;"
                    f" scores {block['with_scores']}/{block['requests']}"
                )
    for key, value in api.items():
        if key.startswith("ratio_after_to_before_"):
            lines.append(f"  {key}: {value}")
    floor = r.get("floors")
    if floor:
        parts = ", ".join(f"{k} {v['p50_ms']}" for k, v in floor.items() if isinstance(v, dict))
        lines.append(f"  floors (p50 ms): {parts}; sum {floor['sum_p50_ms']} ms")
        lines.append(f"  one-client overhead / floors: {floor.get('one_client_overhead_over_floors')}")
    return "\n".join(lines)
