"""Shared pieces of the benchmarks: latency statistics, peak memory, machine facts, child
processes (one per measurement that needs a clean peak RSS or a cold import), free ports.

Standard library and numpy only, so importing it costs nothing. Benchmarks print one JSON
document on stdout with `--json`; everything else (progress, warnings) goes to stderr.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress for the person running a benchmark (stderr, so `--json` output stays clean)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def stats_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50 / p95 / p99 / mean / min / max of durations given in seconds, reported in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds, dtype=float) * 1000.0
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "min_ms": round(float(ms.min()), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def peak_rss_children_mb() -> float:
    """Peak resident memory of the largest waited-for child process so far."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def git_commit() -> str | None:
    """The short commit of the checkout (read-only: `git rev-parse`)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine() -> dict[str, Any]:
    """Where the numbers come from: cores, memory, platform, library versions, commit, date."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpus": usable,
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "diffusers", "transformers", "chromadb", "langchain-chroma")},
        "commit": git_commit(),
        "date": datetime.date.today().isoformat(),
    }


def envelope(name: str, size: str, results: dict[str, Any]) -> dict[str, Any]:
    """The JSON document every benchmark prints."""
    return {"benchmark": name, "size": size, "machine": machine(), "results": results}


def run_child(module: str, args: Iterable[str], *, timeout: float = 3600, env: dict | None = None) -> dict:
    """Run `python -m <module> <args>` in a fresh process and parse the JSON on its last stdout line.
    A fresh process gives a clean peak RSS and honest cold-import times."""
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env or child_env())
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
    return json.loads(lines[-1])


def child_env(**overrides: str) -> dict[str, str]:
    """This environment without any S2R_* setting (a benchmark sets its own), plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(overrides)
    return env


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_result(result: dict[str, Any], as_json: bool, summary: Callable[[dict], str]) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=False))
    else:
        print(summary(result))


def fmt_ms(block: dict | None) -> str:
    """'p50 1.23 ms, p99 4.56 ms (n=1000)' for a stats_ms block."""
    if not block or not block.get("n"):
        return "-"
    return f"p50 {block['p50_ms']:.3f} ms, p99 {block['p99_ms']:.3f} ms (n={block['n']})"
