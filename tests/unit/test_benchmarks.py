"""Smoke test of the benchmarks: each runs at a tiny size and prints well-formed JSON with the
expected keys. Numbers are not checked (benchmarks measure, tests do not time); the helpers that
turn raw timings into the reported figures are checked on exact inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # runs the benchmarks on the tiny models: left out of `make test-fast`

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print exactly one line, got: {proc.stdout[:500]}"
    return json.loads(lines[0])


def check_envelope(doc: dict, name: str) -> dict:
    assert doc["benchmark"] == name and doc["size"] == "tiny"
    assert {"cpus", "memory_gib", "commit", "date", "versions"} <= set(doc["machine"])
    return doc["results"]


def is_stats(block: dict) -> bool:
    return block["n"] > 0 and 0 <= block["p50_ms"] <= block["p99_ms"] <= block["max_ms"]


# --------------------------------------------------------------------------- the benchmarks


def test_retrieval_tiny(tiny_models_dir):
    args = ["--vectors", "300", "--queries", "20", "--models-dir", str(tiny_models_dir)]
    results = check_envelope(bench("retrieval", "--size", "tiny", *args), "retrieval")
    (size,) = results["sizes"]
    assert size["vectors"] == 300 and size["reopen"]["styles"] == 300
    assert set(size["latency"]) == {"numpy_exact", "chroma_raw", "hybrid_no_words", "hybrid_no_words_before"}
    assert all(is_stats(b) for b in size["latency"].values())
    assert set(size["without_scan"]) == {"chroma_raw", "hybrid_no_words"}
    assert all(is_stats(b) and b["n"] == size["queries"] for b in size["without_scan"].values())
    assert size["recall_at_5"]["numpy_exact"] == 1.0
    assert all(0.0 <= r <= 1.0 for r in size["recall_at_5"].values())
    assert size["insert_vectors_per_s"] > 0 and size["peak_rss_mb"] > 0
    assert is_stats(size["search_with_words"]["latency"])
    assert all(is_stats(size["fusions"]["latency"][name]) for name in ("evidence", "rrf"))  # same run, interleaved
    cache = results["text_cache"]
    assert is_stats(cache["cached"]) and is_stats(cache["uncached"]) and cache["cache_hits"] >= 1000


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="ab_api checks a commit out with git worktree")
def test_ab_api_compares_a_commit_with_the_working_tree_and_leaves_no_worktree(tiny_models_dir):
    before = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    args = ["HEAD", "--rounds", "2", "--renders", "1", "--models", str(tiny_models_dir), "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ab_api", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    for name in ("old", "new"):  # two servers, each 2 rounds x 1 render, decomposed as in `overhead`
        assert result[name]["renders"] == 2 and result[name]["renders_per_s"] > 0
        assert is_stats(result[name]["overhead"]) and result[name]["overhead"]["n"] == 2
    assert result["ratio_new_to_old_overhead_p50"] > 0
    assert subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout == before


def test_overhead_tiny_with_two_api_clients(tiny_models_dir):
    args = ["--repeats", "2", "--clients", "2", "--renders", "1", "--models", str(tiny_models_dir)]
    results = check_envelope(bench("overhead", "--size", "tiny", *args), "overhead")
    for fmt in ("png", "jpeg"):
        block = results["preprocess"][fmt]
        for who in ("ours", "seed", "candidate"):
            assert set(block[who]) == {"decode", "resize", "edges", "to_3ch", "total"}
            assert is_stats(block[who]["total"])
        assert block["ratio_ours_to_seed_p50"] > 0
    assert is_stats(results["output_png"]["encode_png"]) and is_stats(results["output_png"]["level_1"])
    for variant in ("before", "after"):  # the pre-issue-17 server and today's, in the same run
        api = results["api"][variant]["clients_2"]
        assert api["requests"] == 2 and api["with_style"] == 2 and api["with_scores"] == 2, variant
        for key in ("total", "submit", "queue_wait", "render", "overhead", "overhead_server", "poll_lag"):
            assert api[key]["n"] == 2, key
        assert api["render"]["p50_ms"] > 0
    assert results["api"]["ratio_after_to_before_clients_2"]["overhead_p50"] > 0
    floors = results["floors"]  # what one request cannot cost less than, measured on its own
    parts = ("http_post", "sse_event", "inflate", "chroma_query", "sqlite_row")
    assert all(is_stats(floors[k]) and floors[k]["n"] == 10 for k in parts)
    assert floors["sum_p50_ms"] == pytest.approx(sum(floors[k]["p50_ms"] for k in parts), abs=0.05)
    assert floors["sum_p50_ms"] > 0 and "one_client_overhead_over_floors" not in floors  # two clients ran, not one


def test_startup_tiny(tiny_models_dir):
    args = ["--no-first-run", "--starts", "1", "--models-dir", str(tiny_models_dir)]
    results = check_envelope(bench("startup", "--size", "tiny", *args), "startup")
    warm = results["api"]["warm"]
    assert warm["starts"] == 1 and warm["profile"] == "tiny"
    assert 0 < warm["livez"]["p50_ms"] <= warm["readyz"]["p50_ms"]
    load = results["load"]["tiny"]
    assert load["profile"] == "tiny" and len(load["renderer_load_s"]) == 2 and load["peak_rss_mb"] > 0
    assert "sd15-random" not in results["load"]  # only with --size full


def test_learning_tiny(tiny_models_dir):
    results = check_envelope(bench("learning", "--size", "tiny", "--models-dir", str(tiny_models_dir)), "learning")
    assert results["queries"] == {"test": 42, "train": 21} and results["sentence_model_load_s"] > 0
    assert set(results["quality"]) == {"today", "captions", "feedback"}
    assert all(is_stats(results["latency"][name]) for name in ("today", "captions", "feedback"))


def test_live_lane_tiny(tiny_models_dir):
    args = ["--runs", "1", "--burst", "5", "--queued", "1", "--quality-steps", "4", "--models", str(tiny_models_dir)]
    results = check_envelope(bench("live", "--size", "tiny", *args), "live")
    assert is_stats(results["live_lane"]) and is_stats(results["quality_lane_baseline"])
    burst = results["burst"]
    assert burst["requests"] == 5 and burst["last_succeeded"]
    assert burst["superseded"] + burst["rendered"] == 5 and burst["superseded"] >= 1  # the newer replaced the older


def test_gpu_code_path_runs_on_cpu_with_tiny_models(tiny_models_dir):
    """The GPU benchmark's own code (ours vs the seed configuration) on CPU: no timing meaning,
    but it proves the configurations load and render before a GPU session spends its time."""
    args = ["--allow-cpu", "--models-dir", str(tiny_models_dir), "--only", "ours,ours-plain,seed,api"]
    args += ["--runs", "1", "--warmup", "0", "--steps", "1", "--resolution", "64"]
    results = check_envelope(bench("gpu", "--size", "tiny", *args), "gpu")
    ours, seed = results["configs"]["ours"], results["configs"]["seed"]
    assert "error" not in ours and "error" not in seed, results["configs"]
    assert ours["attention"]["unet"].get("IPAdapterAttnProcessor2_0") == 16
    assert seed["attention"]["unet"].get("IPAdapterAttnProcessor2_0") == 16  # slicing kept the adapter
    assert seed["attention"]["unet"].get("SlicedAttnProcessor") == 16
    assert ours["p50_s"] > 0 and results["ratio_seed_to_ours_p50"] > 0
    assert "error" not in results["configs"]["ours-plain"]
    assert results["recommend"]["S2R_COMPILE"] == "not measured"  # no compile rows off CUDA
    api = {name: c for name, c in results["configs"].items() if name.startswith("api-")}  # through a real API
    assert sorted(api) == ["api-fast", "api-live", "api-quality"], results["configs"]
    assert all(c["request_to_image"]["n"] == 1 and c["request_to_image"]["p50_ms"] > 0 for c in api.values())


def test_gpu_sdxl_rows_run_on_cpu_with_tiny_sdxl():
    """The SDXL rows' own code (quality, fast, live through our renderer, each image checked) on CPU on
    the tiny-sdxl stand-in the benchmark builds: no timing meaning; the GPU run uses sdxl-random."""
    args = ["--allow-cpu", "--families", "sdxl", "--runs", "1", "--warmup", "0"]
    args += ["--sdxl-steps", "2", "--sdxl-resolution", "64"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: threads only contend
    results = check_envelope(bench("gpu", "--size", "tiny", *args, env=env), "gpu")
    assert results["families"] == ["sdxl"] and "configs" not in results  # no sd15 rows asked for
    sdxl = results["sdxl"]
    assert sdxl["profile"] == "tiny-sdxl" and sdxl["steps"] == 2 and sdxl["resolution"] == 64
    assert sorted(sdxl["configs"]) == ["sdxl-fast", "sdxl-live", "sdxl-quality"], sdxl["configs"]  # no compile on CPU
    for name, row in sdxl["configs"].items():
        assert "error" not in row, (name, row)
        assert row["p50_s"] > 0 and row["size"] == 64 and row["peak_vram_gb"] is None
        assert row["vae"]["source"] == sdxl["models"]["vae"] and row["vae"]["force_upcast"] is False  # fp16-fix VAE


def test_gpu_klein_rows_run_on_cpu_with_tiny_klein():
    """The klein rows' own code (quality, fast, live through the klein generator with the sketch and a style
    as references, each image checked, structure F1 measured) on CPU on tiny-klein: no timing meaning."""
    args = ["--allow-cpu", "--families", "klein", "--runs", "1", "--warmup", "0", "--klein-resolution", "64"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = check_envelope(bench("gpu", "--size", "tiny", *args, env=env), "gpu")
    assert results["families"] == ["klein"] and "configs" not in results
    klein = results["klein"]
    assert klein["profile"] == "tiny-klein" and klein["offload"] == "off"
    assert sorted(klein["configs"]) == ["klein-fast", "klein-live", "klein-quality"], klein["configs"]
    steps = {name: row["steps"] for name, row in klein["configs"].items()}
    assert steps == {"klein-quality": 4, "klein-fast": 3, "klein-live": 2}
    for name, row in klein["configs"].items():
        assert "error" not in row, (name, row)
        assert row["p50_s"] > 0 and row["size"] == 64 and 0.0 <= row["structure_f1"] <= 1.0


def test_a_constant_or_non_finite_render_fails_its_row():
    from PIL import Image

    from benchmarks.gpu_measure import check_images

    with pytest.raises(RuntimeError, match="sdxl-quality: the render is constant"):
        check_images([Image.new("RGB", (16, 16))], "sdxl-quality")  # what NaN latents decode to
    with pytest.raises(RuntimeError, match="not finite"):
        check_images([np.full((4, 4, 3), np.nan, dtype=np.float32)], "sdxl-live")
    check_images([np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)], "sdxl-fast")


# --------------------------------------------------------------------------- the arithmetic


def test_clustered_data_is_clustered_and_exact_search_agrees():
    from benchmarks.retrieval import clustered_data, exact_top_k, numpy_search, recall_at_k

    data = clustered_data(200, 10, seed=3)
    points, queries = data["points"], data["queries"]
    assert points.dtype == queries.dtype == np.float32  # a float64 query upcasts every point per search
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-5)
    exact = exact_top_k(points, queries)
    same_cluster = data["assign"][exact] == data["q_assign"][:, None]
    assert same_cluster[:, 0].all()  # a query's nearest point lies in its own cluster
    assert all(numpy_search(points, q).tolist() == e.tolist() for q, e in zip(queries, exact, strict=True))
    assert recall_at_k([e.tolist() for e in exact], exact) == 1.0
    assert recall_at_k([[*e[:4].tolist(), -1] for e in exact], exact) == 0.8


def test_decompose_subtracts_queue_wait_render_and_poll_lag():
    from benchmarks.overhead import decompose

    def job(created, started, finished, denoise, vae):
        timings = {"denoise": denoise, "vae_decode": vae, "decode": 0.001, "edges": 0.001}
        return {"created_at": created, "started_at": started, "finished_at": finished, "result": {"timings": timings}}

    runs = [  # two jobs submitted together; the second waits for the first
        {"job": job(10.0, 10.01, 10.21, 0.15, 0.03), "t_post": 9.99, "t_accepted": 10.0, "t_seen": 10.22}
        | {"t_scores": 10.23},  # the scores arrive 10 ms after the images
        {"job": job(10.0, 10.215, 10.42, 0.16, 0.02), "t_post": 9.99, "t_accepted": 10.0, "t_seen": 10.43}
        | {"t_scores": 10.43},
    ]
    out = decompose(runs)
    # first: 230 ms total, no wait, 180 ms render -> 50 ms overhead, 10 ms of it poll lag
    # second: 440 ms total, waited 210 ms (until 10.21), 180 ms render -> 50 ms overhead
    assert out["overhead"]["min_ms"] == pytest.approx(50.0, abs=1e-6)
    assert out["overhead"]["max_ms"] == pytest.approx(50.0, abs=1e-6)
    assert out["overhead_server"]["max_ms"] == pytest.approx(40.0, abs=1e-6)
    assert out["queue_wait"]["max_ms"] == pytest.approx(210.0, abs=1e-6)
    assert out["pickup"]["max_ms"] == pytest.approx(10.0, abs=1e-6)
    assert (out["scores_after_images"]["min_ms"], out["scores_after_images"]["max_ms"]) == pytest.approx((0.0, 10.0))


def test_the_cli_runs_a_benchmark_from_the_checkout():
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sketch2render", "bench", "gpu", "--size", "tiny", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    import torch

    if torch.cuda.is_available():
        assert data.get("benchmark") == "gpu"
    else:
        assert data == {"skipped": "no CUDA"}  # one line, exit 0: nothing to measure without a GPU


def test_queue_tiny():
    args = ["--jobs", "24", "--processes", "1,2"]
    results = check_envelope(bench("queue", "--size", "tiny", *args, timeout=600), "queue")
    runs = results["runs"]
    assert [(r["backend"], r["processes"]) for r in runs] == [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)]
    for run in runs:
        assert run["jobs"] == 24 and sum(run["claimed_by_process"]) == 24  # each job claimed once, by some process
        assert run["submits_per_s"] > 0 and run["claims_per_s"] > 0 and is_stats(run["claim"])
    assert runs[0]["submits_vs_sqlite"] == 1.0
