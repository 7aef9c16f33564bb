"""The job queue under load: submits/s and claim latency for 1, 2 and 4 API processes on one
PostgreSQL database, against one process on SQLite (the single-machine default), in the same run.

Each configuration gets a fresh database (PostgreSQL: a new database on one throw-away server,
tests/postgres.py's `PostgresServer`; SQLite: a new file) and P real OS processes, each with its
own `JobStore` on it and one shared renders folder, as P API processes would have. Then:

1. submits: every process stores N/P jobs as fast as it can (the input file, then the row, with the
   queue caps and the fair-share owner checked as the API does; 8 owners in turn), all starting
   together; submits/s = N / the time from the start to the last process's end;
2. claims: every process, as its worker loop does, releases lapsed leases and claims the next job
   (fair share over owners, `FOR UPDATE SKIP LOCKED` on PostgreSQL), then records its end, until
   none is left; claim latency = one `expire_leases` + `claim_next`; claims/s over the whole drain.

Every job must be claimed exactly once over all processes (checked; a duplicate fails the run).
No rendering, no HTTP: the database's share of a job's life. 500 jobs (`--size tiny`: 200). Every
job is queued before the first claim, so the claims run against a deeper queue than the API lets
wait (`S2R_QUEUE_MAX`, 32 by default): the claim query's cost per queued job shows.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, log, stats_ms

JOBS = {"tiny": 200, "full": 500}
PROCESSES = (1, 2, 4)
OWNERS = 8
SKETCH = b"\x89PNG\r\n\x1a\n" + b"\0" * 2048  # the stored bytes only; nothing decodes them here


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=None, help="jobs per configuration (200 tiny, 500 full)")
    parser.add_argument("--processes", default=",".join(map(str, PROCESSES)), help="PostgreSQL process counts")


def _store(where: str, renders: Path, jobs: int):
    from sketch2render.jobs import JobStore

    return JobStore(where, renders, queue_max=jobs + 10, max_history=jobs + 10)


def _worker(where: str, renders: str, index: int, count: int, jobs: int, barrier, results) -> None:
    """One process: submit `count` jobs, wait for the others, drain the queue; report to `results`."""
    from sketch2render.jobs import JobStatus

    store = _store(where, Path(renders), jobs)
    worker_id = f"bench:{index}"
    try:
        barrier.wait()
        t0 = time.perf_counter()
        for i in range(count):
            store.submit(SKETCH, {"prompt": f"job {index}-{i}", "steps": 2}, owner=f"user{(index + i) % OWNERS}")
        submitted = time.perf_counter()
        barrier.wait()
        claims, claimed = [], []
        c0 = time.perf_counter()
        while True:
            t = time.perf_counter()
            store.expire_leases()
            job = store.claim_next(worker_id, 60.0)
            claims.append(time.perf_counter() - t)
            if job is None:
                break
            claimed.append(job.id)
            store.finish(job.id, JobStatus.SUCCEEDED, owner=worker_id)
        drained = time.perf_counter()
        results.put(
            {"index": index, "submit": (t0, submitted), "drain": (c0, drained), "claims": claims[:-1], "ids": claimed}
        )
    finally:
        store.close()


def _measure(where: str, processes: int, jobs: int, root: Path) -> dict[str, Any]:
    renders = root / f"renders-{processes}-{time.monotonic_ns()}"
    _store(where, renders, jobs).close()  # the schema, before the processes race for it
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    counts = [jobs // processes + (1 if i < jobs % processes else 0) for i in range(processes)]
    children = [
        ctx.Process(target=_worker, args=(where, str(renders), i, counts[i], jobs, barrier, results))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join(60)
        if child.exitcode != 0:
            raise RuntimeError(f"a queue benchmark process exited with {child.exitcode}")
    ids = [job_id for r in reports for job_id in r["ids"]]
    if len(ids) != jobs or len(set(ids)) != jobs:
        raise RuntimeError(f"{len(ids)} claims of {len(set(ids))} distinct jobs for {jobs} submitted")
    submit_s = max(r["submit"][1] for r in reports) - min(r["submit"][0] for r in reports)
    drain_s = max(r["drain"][1] for r in reports) - min(r["drain"][0] for r in reports)
    return {
        "processes": processes,
        "jobs": jobs,
        "submits_per_s": round(jobs / submit_s, 1),
        "claims_per_s": round(jobs / drain_s, 1),
        "claim": stats_ms([s for r in reports for s in r["claims"]]),
        "claimed_by_process": [len(r["ids"]) for r in sorted(reports, key=lambda r: r["index"])],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from postgres import PostgresServer, find_binaries

    jobs = args.jobs or JOBS[args.size]
    counts = [int(p) for p in str(args.processes).split(",") if p.strip()]
    bindir = find_binaries()
    if bindir is None:
        return {"skipped": "PostgreSQL's server binaries are missing (make setup installs them)"}
    server = PostgresServer(bindir).start()
    results: dict[str, Any] = {"jobs": jobs, "owners": OWNERS, "runs": []}
    try:
        with tempfile.TemporaryDirectory(prefix="s2r-bench-queue-") as tmp:
            root = Path(tmp)
            log(f"SQLite, 1 process, {jobs} jobs")
            baseline = _measure(str(root / "jobs.sqlite3"), 1, jobs, root)
            results["runs"].append({"backend": "sqlite", **baseline})
            for processes in counts:
                log(f"PostgreSQL, {processes} process(es), {jobs} jobs")
                url = server.new_database()
                try:
                    results["runs"].append({"backend": "postgresql", **_measure(url, processes, jobs, root)})
                finally:
                    server.drop_database(url)
    finally:
        server.stop()
    for entry in results["runs"]:
        entry["submits_vs_sqlite"] = round(entry["submits_per_s"] / baseline["submits_per_s"], 2)
        entry["claims_vs_sqlite"] = round(entry["claims_per_s"] / baseline["claims_per_s"], 2)
    return results


def summary(result: dict[str, Any]) -> str:
    lines = [f"{result['results']['jobs']} jobs per configuration:"]
    for r in result["results"]["runs"]:
        claim = r["claim"]
        lines.append(
            f"  {r['backend']:<10} x{r['processes']}: {r['submits_per_s']:>7} submits/s,"
            f" {r['claims_per_s']:>7} claims/s, claim p50 {claim.get('p50_ms')} ms p95 {claim.get('p95_ms')} ms"
            f" (claimed {r['claimed_by_process']})"
        )
    return "\n".join(lines)
