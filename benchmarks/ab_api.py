"""`python -m benchmarks.ab_api COMMIT [--rounds N] [--renders M] [--clients C] [--json]`: the API
round trip of `overhead` for two trees at once: COMMIT (checked out into a temporary git worktree)
and the working tree, each as its own server, in interleaved rounds (old, new, then new, old, ...),
so that a change that `benchmarks/api_before.py` cannot put back (the imaging code, the API's
dependencies) is measured before and after in the same run, under the same machine load. Both
servers use this checkout's virtual environment; the request overhead is decomposed as in
`overhead`. Benchmarks only."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, log, ratio
from .overhead import _add_styles, _run_clients, decompose, encoded, make_sketch
from .server import ApiServer

STAGES = ("overhead", "submit", "pickup", "worker_other", "poll_lag", "render")


def _worktree(commit: str, where: Path) -> Path:
    add = ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(where), commit]
    subprocess.run(add, check=True, capture_output=True)  # (quiet: stdout carries the --json answer)
    return where / "src"


def measure(commit: str, rounds: int, renders: int, clients: int, models: str = "tiny") -> dict[str, Any]:
    sketch = encoded(make_sketch(512, seed=1), "PNG")
    waiting = (0.005, "sse", "same")
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    wall = {"old": 0.0, "new": 0.0}
    with tempfile.TemporaryDirectory(prefix="s2r-ab-") as tmp:
        tree = Path(tmp) / "old-tree"
        sources = {"old": _worktree(commit, tree), "new": REPO_ROOT / "src"}
        servers = {}
        try:
            for name, src in sources.items():
                server = ApiServer(Path(tmp) / name, models=models, queue_max="100000")
                server.env["PYTHONPATH"] = str(src)  # this tree's sketch2render, before the installed one
                servers[name] = server.start()
            for server in servers.values():
                server.wait_ready()
                _add_styles(server.url)
                asyncio.run(_run_clients(server.url, sketch, 1, 5, *waiting))  # warm-up
            for r in range(rounds):
                for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    log(f"ab_api: round {r + 1}/{rounds}, {name}")
                    t0 = time.perf_counter()
                    runs[name] += asyncio.run(_run_clients(servers[name].url, sketch, clients, renders, *waiting))
                    wall[name] += time.perf_counter() - t0
        finally:
            for server in servers.values():
                server.stop()
            remove = ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)]
            subprocess.run(remove, check=False, capture_output=True)
    out: dict[str, Any] = {"old_commit": commit, "rounds": rounds, "renders_per_round": renders, "clients": clients}
    for name in ("old", "new"):
        stats = decompose(runs[name])
        out[name] = {"renders": len(runs[name]), "renders_per_s": round(len(runs[name]) / wall[name], 2)}
        out[name].update({stage: stats[stage] for stage in STAGES})
    out["ratio_new_to_old_overhead_p50"] = ratio(out["new"]["overhead"]["p50_ms"], out["old"]["overhead"]["p50_ms"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the tree to compare the working tree with (e.g. HEAD~3)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--renders", type=int, default=20, help="renders per client per round")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--models", default="tiny", help="S2R_MODELS of both servers (a built tiny folder saves time)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.commit, args.rounds, args.renders, args.clients, args.models)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for name in ("old", "new"):
            block = result[name]
            parts = ", ".join(f"{s} {block[s]['p50_ms']:.1f}/{block[s]['p99_ms']:.1f}" for s in STAGES)
            print(f"{name}: {block['renders']} renders, {block['renders_per_s']} renders/s; p50/p99 ms: {parts}")
        print(f"new / old overhead p50: {result['ratio_new_to_old_overhead_p50']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
