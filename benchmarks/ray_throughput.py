"""Render throughput on the Ray Serve backend: 1 replica vs 2 replicas (tiny models, CPU).

`python -m benchmarks.ray_throughput [--json] [--jobs N] [--steps S] [--size PX] [--configs ...] [--local]`

One local Ray instance (2 logical CPUs) and one Chroma server for the whole run. For each
configuration the RenderWorker deployment is started fresh, warmed up (one render per replica),
then N renders are sent at once through the deployment handle, as the API's job workers send
them (streamed, at most one running per replica, the rest queued by Serve). Throughput is N over
the wall time from the first submission to the last result. Configurations (`--configs`):

  1x1  one replica, 1 CPU (1 torch thread)     the per-replica baseline (default)
  2x1  two replicas, 1 CPU each                the scale-out case, ratio against 1x1 (default)
  1x2  one replica, 2 CPUs (2 torch threads)   the same two cores spent on one replica
  --local: the in-process RenderService (no Ray, all cores), one render at a time

On a CPU machine two replicas share the same cores, so 2x1 vs 1x2 / local says how much of the
gain intra-op threading already had. Two torch threads on two cores shared with other work are
erratic (an OpenMP thread descheduled stalls the other): read 1x2 and local on an idle machine
only. The real gain needs one GPU per replica.
Left out: the HTTP API around it (measured by `benchmarks overhead`), GPU replicas.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import envelope, log, print_result, ratio, stats_ms

CONFIGS = {"1x1": (1, 1.0), "2x1": (2, 1.0), "1x2": (1, 2.0)}  # name: (replicas, CPUs per replica)


def sketch_bytes() -> bytes:
    from sketch2render.styles import default_styles_dir

    folder = default_styles_dir().parent / "sketches"
    return next(p for p in sorted(folder.iterdir()) if p.suffix.lower() in {".png", ".jpg", ".jpeg"}).read_bytes()


def params(seed: int, steps: int, size: int) -> dict[str, Any]:
    from sketch2render.schemas import RenderParams

    return RenderParams(prompt="a red brick house", steps=steps, size=size, seed=seed).model_dump(mode="json")


def render_once(handle: Any, sketch: bytes, p: dict[str, Any]) -> tuple[str, float]:
    """(replica, seconds) of one streamed render through the deployment."""
    from sketch2render.render.stages import Retrieved
    from sketch2render.scale.replica_jobs import RenderJob
    from sketch2render.schemas import RenderParams

    job = RenderJob(sketch, RenderParams.model_validate(p), (), Retrieved([], False, 0.0), ())  # the library is empty
    t0 = time.perf_counter()
    replica = "?"
    for chunk in handle.options(stream=True).run.remote(job):
        if "replica" in chunk:
            replica = chunk["replica"]
        elif "error" in chunk:
            raise RuntimeError(chunk["error"])
        elif "result" in chunk:
            return replica, time.perf_counter() - t0
    raise RuntimeError("the stream ended without a result")


def run_burst(handle: Any, sketch: bytes, jobs: int, steps: int, size: int) -> dict[str, Any]:
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(seed: int) -> None:
        result = render_once(handle, sketch, params(seed, steps, size))
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(jobs)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if len(outcomes) != jobs:
        raise RuntimeError(f"only {len(outcomes)} of {jobs} renders finished")
    per_replica: dict[str, int] = {}
    for replica, _ in outcomes:
        per_replica[replica] = per_replica.get(replica, 0) + 1
    return {
        "jobs": jobs,
        "wall_s": round(wall, 3),
        "throughput_per_s": round(jobs / wall, 4),
        "latency": stats_ms([seconds for _, seconds in outcomes]),
        "jobs_per_replica": sorted(per_replica.values(), reverse=True),
    }


def measure_config(settings: Any, replicas: int, cpus: float, jobs: int, steps: int, size: int) -> dict[str, Any]:
    from ray import serve

    from sketch2render.scale.ray_worker import APP_NAME, build_app

    config = settings.model_copy(update={"ray_min_replicas": replicas, "ray_max_replicas": replicas})
    t0 = time.perf_counter()
    handle = serve.run(build_app(config, gpus=False, replica_cpus=cpus), name=APP_NAME, route_prefix=None)
    deploy_s = time.perf_counter() - t0
    try:
        sketch = sketch_bytes()
        warm = threading.Barrier(replicas)  # one render per replica, at the same time: both warm

        def warm_up(seed: int) -> None:
            warm.wait()
            render_once(handle, sketch, params(seed, steps, size))

        threads = [threading.Thread(target=warm_up, args=(1000 + i,)) for i in range(replicas)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        burst = run_burst(handle, sketch, jobs, steps, size)
    finally:
        serve.delete(APP_NAME)
    return {"replicas": replicas, "replica_cpus": cpus, "deploy_s": round(deploy_s, 2), **burst}


def measure_local(settings: Any, jobs: int, steps: int, size: int) -> dict[str, Any]:
    from sketch2render.render import build_service
    from sketch2render.schemas import RenderParams

    service = build_service(settings)
    sketch = sketch_bytes()
    service.render(sketch, RenderParams.model_validate(params(999, steps, size)))  # warm-up
    seconds = []
    t0 = time.perf_counter()
    for seed in range(jobs):
        t1 = time.perf_counter()
        service.render(sketch, RenderParams.model_validate(params(seed, steps, size)))
        seconds.append(time.perf_counter() - t1)
    wall = time.perf_counter() - t0
    import torch

    return {
        "jobs": jobs,
        "torch_threads": torch.get_num_threads(),
        "wall_s": round(wall, 3),
        "throughput_per_s": round(jobs / wall, 4),
        "latency": stats_ms(seconds),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")  # no new Ray from Serve threads after shutdown
    import ray
    from ray import serve

    from sketch2render.config import Settings
    from sketch2render.models import build_tiny
    from sketch2render.scale.chroma_server import ChromaServer

    results: dict[str, Any] = {"steps": args.steps, "size": args.size, "jobs": args.jobs, "device": "cpu"}
    with tempfile.TemporaryDirectory(prefix="s2r-ray-bench-") as tmp:
        home = Path(tmp)
        log("building the tiny models")
        models = build_tiny(home / "models" / "tiny")
        chroma = ChromaServer(home / "chroma-server")
        url = chroma.start()
        settings = Settings(home=home, models=str(models), device="cpu", chroma_url=url)
        try:
            log("starting a local Ray instance (2 logical CPUs)")
            ray.init(
                address="local",
                num_cpus=2,
                include_dashboard=False,
                object_store_memory=150 * 1024 * 1024,
                log_to_driver=False,
            )
            serve.start(proxy_location="Disabled")
            configs = {}
            for name in args.configs.split(","):
                replicas, cpus = CONFIGS[name]
                log(f"{name}: {replicas} replica(s) x {cpus:g} CPU, {args.jobs} renders")
                configs[name] = measure_config(settings, replicas, cpus, args.jobs, args.steps, args.size)
                block = configs[name]
                log(f"{name}: {block['throughput_per_s']:.3f} renders/s, p50 {block['latency']['p50_ms']:.0f} ms")
            results["ray"] = configs
        finally:
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
                chroma.stop()
        if args.local:
            log("local: the in-process RenderService, one render at a time")
            local = settings.model_copy(update={"chroma_url": None})  # the server is gone: a disk library
            results["local"] = measure_local(local, args.jobs, args.steps, args.size)
    speed = {name: block["throughput_per_s"] for name, block in results["ray"].items()}
    results["ratio_2x1_over_1x1"] = ratio(speed.get("2x1"), speed.get("1x1"))
    if "1x2" in speed:
        results["ratio_2x1_over_1x2"] = ratio(speed.get("2x1"), speed["1x2"])
    results["note"] = (
        "CPU replicas on one 2-core machine share the same cores; the real gain needs one GPU per replica."
    )
    return results


def summary(doc: dict[str, Any]) -> str:
    r = doc["results"]
    lines = [f"ray_throughput ({r['jobs']} renders, {r['steps']} steps, {r['size']} px, CPU):"]
    for name, block in r["ray"].items():
        lines.append(
            f"  {name}: {block['throughput_per_s']:.3f} renders/s (wall {block['wall_s']:.1f} s, "
            f"per replica {block['jobs_per_replica']})"
        )
    if "local" in r:
        lines.append(f"  local: {r['local']['throughput_per_s']:.3f} renders/s")
    lines.append(f"  2 replicas / 1 replica (1 CPU each): {r['ratio_2x1_over_1x1']}x")
    if "ratio_2x1_over_1x2" in r:
        lines.append(f"  2 replicas x 1 CPU / 1 replica x 2 CPUs: {r['ratio_2x1_over_1x2']}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ray_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--jobs", type=int, default=12, help="renders per configuration")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64, help="longest side, multiple of 8")
    parser.add_argument("--configs", default="1x1,2x1", help="comma-separated, of: " + ", ".join(CONFIGS))
    parser.add_argument("--local", action="store_true", help="add the in-process baseline (no Ray)")
    args = parser.parse_args(argv)
    if unknown := set(args.configs.split(",")) - set(CONFIGS):
        parser.error(f"unknown configuration(s) {', '.join(sorted(unknown))}; choose from {', '.join(CONFIGS)}")
    with contextlib.redirect_stdout(sys.stderr):  # Ray's driver prints worker notices to stdout
        results = run(args)
    print_result(envelope("ray_throughput", "tiny", results), args.json, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
