"""The live lane through a running API (tiny models, CPU): how long a live render takes from
`POST /v1/renders` to its image while a quality render is running and more quality renders wait,
and what a burst of live requests of one session does (the newer ones supersede the older ones).

1. A quality render (many steps) is started, and `--queued` more quality renders wait behind it.
2. Live renders (`speed=live`, one `live_session`) are posted one after another, each after the
   previous one finished: POST to a finished image, in seconds. Baseline in the same run: the same
   live render submitted as a quality-lane job (no `live_session`) behind the same queue.
3. A burst of `--burst` live requests of one session, posted back to back: how many were
   superseded (never ran), how many rendered, and the time to the last one's image.
The worker renders one job at a time, so a live render waits at most for the running one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, stats_ms
from .server import ApiServer

SKETCH = Path(__file__).parents[1] / "src" / "sketch2render" / "data" / "sketches" / "chiriqui_fig76_vase.png"
TERMINAL = {"succeeded", "failed", "cancelled"}
SIZES = {"tiny": {"runs": 3, "burst": 20, "queued": 2, "quality_steps": 20}, "full": {"runs": 8, "burst": 20}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None, help="live renders to time")
    parser.add_argument("--burst", type=int, default=None, help="live requests in the burst")
    parser.add_argument("--queued", type=int, default=None, help="quality renders waiting meanwhile")
    parser.add_argument("--quality-steps", type=int, default=None, help="steps of the quality renders")
    parser.add_argument("--models", default="tiny", help="S2R_MODELS of the API (default tiny)")


def _post(client, fields: dict[str, str]) -> str:
    files = {"sketch": ("sketch.png", SKETCH.read_bytes(), "image/png")}
    data = {"prompt": "a vase, ink", "size": "64", **fields}
    response = client.post("/v1/renders", data=data, files=files)
    if response.status_code != 202:
        raise RuntimeError(f"POST /v1/renders answered {response.status_code}: {response.text[:300]}")
    return response.json()["id"]


def _wait(client, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/renders/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.01)
    raise RuntimeError(f"render {job_id} did not end in {timeout} s")


def _timed(client, fields: dict[str, str]) -> float:
    t0 = time.perf_counter()
    job = _wait(client, _post(client, fields))
    if job["status"] != "succeeded":
        raise RuntimeError(f"render ended {job['status']}: {job.get('error')}")
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    size = SIZES[args.size]
    runs = args.runs or size["runs"]
    burst = args.burst or size["burst"]
    queued = args.queued if args.queued is not None else size.get("queued", 2)
    steps = args.quality_steps or size.get("quality_steps", 20)
    with tempfile.TemporaryDirectory(prefix="s2r-bench-live-") as tmp, ApiServer(Path(tmp), args.models) as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            _timed(client, {"speed": "live", "live_session": "warm", "seed": "1"})  # loads the LoRA and TAESD
            busy = {"steps": str(steps), "seed": "2"}

            def measure(fields: dict[str, str]) -> list[float]:
                times = []
                for i in range(runs):
                    waiting = [_post(client, busy) for _ in range(queued + 1)]  # one runs, the rest wait
                    times.append(_timed(client, {**fields, "seed": str(100 + i)}))
                    for job_id in waiting:
                        _wait(client, job_id)
                return times

            log("live: live lane, behind a running quality render")
            live = measure({"speed": "live", "live_session": "canvas"})
            log("live: the same render in the quality lane (baseline)")
            baseline = measure({"speed": "live"})
            log(f"live: a burst of {burst}")
            t0 = time.perf_counter()
            ids = [_post(client, {"speed": "live", "live_session": "burst", "seed": str(i)}) for i in range(burst)]
            jobs = [_wait(client, job_id) for job_id in ids]
            burst_s = time.perf_counter() - t0
    superseded = sum(j["status"] == "cancelled" and (j.get("error") or {}).get("code") == "superseded" for j in jobs)
    return {
        "runs": runs,
        "queued_quality": queued,
        "quality_steps": steps,
        "live_lane": stats_ms(live),
        "quality_lane_baseline": stats_ms(baseline),
        "ratio_baseline_to_live_p50": round(stats_ms(baseline)["p50_ms"] / max(stats_ms(live)["p50_ms"], 1e-9), 2),
        "burst": {
            "requests": burst,
            "superseded": superseded,
            "rendered": sum(j["status"] == "succeeded" for j in jobs),
            "last_succeeded": jobs[-1]["status"] == "succeeded",
            "seconds_to_last_image": round(burst_s, 3),
        },
    }


def summary(result: dict) -> str:
    r = result["results"]
    b = r["burst"]
    return "\n".join(
        [
            f"live ({result['size']}): {r['runs']} live renders, each behind a running {r['quality_steps']}-step "
            f"quality render with {r['queued_quality']} more waiting",
            f"  live lane      p50 {r['live_lane']['p50_ms']:.0f} ms, p99 {r['live_lane']['p99_ms']:.0f} ms",
            f"  quality lane   p50 {r['quality_lane_baseline']['p50_ms']:.0f} ms (the same render, no live_session)",
            f"  ratio          {r['ratio_baseline_to_live_p50']}x",
            f"  burst of {b['requests']}: {b['superseded']} superseded, {b['rendered']} rendered, "
            f"last one rendered: {b['last_succeeded']}, {b['seconds_to_last_image']} s to its image",
        ]
    )
