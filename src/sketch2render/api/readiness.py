"""Why the server is not ready: small checks, each naming the reason it finds (None when all is
well), run by `ApiRuntime.readiness` for `/readyz` and the `/metrics` scrape.

A `Check` is a fault kind of `s2r_faults_total` (metrics.py) and a function of no arguments; a
reason it gives appears in `/readyz`'s reasons and counts that kind once, when it appears. A check
must be cheap: a server's heartbeat is asked at most every second or two (chroma_link.py), the
Ray cluster on a thread of its own (scale/ray_backend.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..styles.chroma_link import ChromaHeartbeat
from .metrics import ApiMetrics


@dataclass(frozen=True)
class Check:
    kind: str  # a fault kind of metrics.FAULT_KINDS
    problem: Callable[[], str | None]  # the reason it is not ready, None when all is well


def run_checks(checks: Iterable[Check], metrics: ApiMetrics) -> dict[str, str]:
    """The faults the checks find, in order (kind -> reason); each kind counted when it appears."""
    found: dict[str, str] = {}
    for check in checks:
        reason = check.problem()
        metrics.observe_fault(check.kind, reason is not None)
        if reason is not None:
            found.setdefault(check.kind, reason)
    return found


def claim_problem(worker: object | None) -> str | None:
    """The job worker (or one of a pool's) failed to claim its last job: the job database refused.
    Reads the worker's `claim_error` (None while its claims succeed)."""
    workers = getattr(worker, "workers", None) or ([worker] if worker is not None else [])
    for one in workers:
        error = getattr(one, "claim_error", None)
        if error:
            return f"job worker cannot claim jobs: {error}"
    return None


def chroma_problem(heartbeat: ChromaHeartbeat | None) -> str | None:
    """The Chroma server under S2R_CHROMA_URL does not answer its heartbeat (None: no such server)."""
    return heartbeat.problem() if heartbeat is not None else None
