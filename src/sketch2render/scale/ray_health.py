"""Whether the Ray cluster answers and the Serve app runs, for readiness under S2R_BACKEND=ray: a
job waits in the queue while they do not (ray_backend.py's `RayExecutor.ready`), and `/readyz` says
why. Asked on a thread of its own, so a cluster that is gone never holds up the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("sketch2render.scale")

PROBE_TTL_S = 2.0  # how often the cluster and the Serve app are asked about
PROBE_TIMEOUT_S = 5.0


GONE = ("the Ray cluster is", "the Ray Serve app is not serving")  # how a reason begins when it is gone
COMING = ("DEPLOYING", "UNHEALTHY")  # the app is there, its replicas (re)starting: jobs still go to it


def serve_problem(app_name: str) -> str | None:
    """Why the Serve app `app_name` cannot take renders now (None: it runs). A reason that begins
    with one of `GONE` means the cluster or the app is away; otherwise the app is there but not
    running (deploying, replacing a replica)."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        return "the Ray cluster is not connected"
    try:
        app = serve.status().applications.get(app_name)
    except Exception as exc:
        return f"the Ray cluster is unreachable ({type(exc).__name__}: {exc})"
    if app is None:
        return f"the Ray Serve app is not serving ({app_name!r} is not deployed)"
    status = str(getattr(app.status, "value", app.status))
    if status == "RUNNING":
        return None
    if status in COMING:
        return f"the Ray Serve app {app_name!r} is {status}"
    return f"the Ray Serve app is not serving ({app_name!r} is {status})"


class ServeProbe:
    """Whether the Ray cluster answers and the Serve app runs: `ask()` (a reason, or None) on a thread
    of its own, at most every `ttl` seconds, so `problem()` never waits on a cluster that is gone; a
    question unanswered after `timeout` seconds is an answer too."""

    def __init__(self, ask: Callable[[], str | None], *, ttl: float = PROBE_TTL_S, timeout: float = PROBE_TIMEOUT_S):
        self._ask = ask
        self.ttl = ttl
        self.timeout = timeout
        self.last: str | None = None  # the latest answer
        self._asked_at = float("-inf")  # when the question in flight (or the last one) was asked
        self._answered = True
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            if self._answered and now - self._asked_at >= self.ttl:
                self._asked_at, self._answered = now, False
                threading.Thread(target=self._run, name="s2r-ray-probe", daemon=True).start()
            if not self._answered and now - self._asked_at > self.timeout:
                return f"the Ray cluster did not answer within {self.timeout:g}s"
            return self.last

    def _run(self) -> None:
        try:
            answer = self._ask()
        except Exception as exc:  # the probe must not die with the cluster
            answer = f"the Ray cluster is unreachable ({type(exc).__name__})"
        with self._lock:
            if answer != self.last:
                log.warning("Ray backend: %s", answer or "reachable again")
            self.last, self._answered = answer, True
