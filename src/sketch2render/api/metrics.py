"""Prometheus metrics of one app, in its own registry (two apps in one process never collide).

HTTP requests are labelled by route *template* (`/v1/renders/{job_id}`), never by raw path, so
the number of series stays bounded. Per-principal series are labelled by the principal's *name*
(bounded by the key store; never a key or its hash beyond the `key:<12 hex>` id of an S2R_API_KEYS
entry). Queue depth and jobs by status are read from the store at
scrape time; render stage durations come from each finished job's `recipe.timings`.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..jobs import Job, JobStatus
from ..schemas import Timings

CONTENT_TYPE = CONTENT_TYPE_LATEST
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# The kinds of `s2r_faults_total`: a state (counted when it appears, see `observe_fault`) or an event
# (`fault`). Each is exported from the start, at 0.
CLAIM_FAILED = "claim_failed"  # the job worker could not take the next job (the job database)
CHROMA_UNREACHABLE = "chroma_unreachable"  # the Chroma server under S2R_CHROMA_URL
RAY_UNREACHABLE = "ray_unreachable"  # the Ray cluster or its Serve app under S2R_BACKEND=ray
DISK_FULL = "disk_full"
READ_ONLY = "read_only"
RENDER_TIMEOUT = "render_timeout"
FAULT_KINDS = (CLAIM_FAILED, CHROMA_UNREACHABLE, RAY_UNREACHABLE, DISK_FULL, READ_ONLY, RENDER_TIMEOUT)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "s2r_http_requests_total", "HTTP requests by method, route template and status code",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "s2r_http_request_duration_seconds", "HTTP request latency by method and route template",
            ["method", "route"], buckets=HTTP_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("s2r_queue_depth", "Render jobs waiting to run", registry=r)
        self.queue_capacity = Gauge("s2r_queue_capacity", "Most render jobs that may wait", registry=r)
        self.jobs = Gauge("s2r_jobs", "Render jobs in the store by status", ["status"], registry=r)
        self.jobs_finished = Counter(
            "s2r_jobs_finished_total", "Render jobs that ended since start, by status", ["status"], registry=r
        )
        self.render_stage = Histogram(
            "s2r_render_stage_seconds", "Seconds per render stage (from the recipe timings)",
            ["stage"], buckets=STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.worker_alive = Gauge("s2r_worker_alive", "1 when the job worker thread runs", registry=r)
        self.models_loaded = Gauge("s2r_models_loaded", "1 when the models are loaded", registry=r)
        self.auth_failures = Counter("s2r_auth_failures_total", "Requests refused for a missing or bad key", registry=r)
        self.principal_requests = Counter(
            "s2r_principal_requests_total", "Authenticated requests by principal", ["principal"], registry=r
        )
        self.principal_submitted = Counter(
            "s2r_principal_jobs_submitted_total", "Render jobs stored, by principal", ["principal"], registry=r
        )
        self.principal_refused = Counter(
            "s2r_principal_refused_total", "Requests refused with 429, by principal and reason (rate, queue)",
            ["principal", "reason"], registry=r,
        )  # fmt: skip
        self.principal_queued = Gauge(
            "s2r_principal_queued_jobs", "Render jobs waiting, by principal ('' = stored before principals)",
            ["principal"], registry=r,
        )  # fmt: skip
        self.faults = Counter(
            "s2r_faults_total", "Faults seen since start, by kind (a lasting one counts once, when it appears)",
            ["kind"], registry=r,
        )  # fmt: skip
        self.ready = Gauge("s2r_ready", "1 when /readyz answers 200 (its reasons say why not)", registry=r)
        self._faults_present: set[str] = set()
        self._faults_lock = threading.Lock()
        for kind in FAULT_KINDS:
            self.faults.labels(kind)
        for status in JobStatus:
            self.jobs.labels(str(status))
        for stage in Timings.model_fields:
            self.render_stage.labels(stage)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def fault(self, kind: str) -> None:
        """One fault that is an event (a render that timed out)."""
        self.faults.labels(kind).inc()

    def observe_fault(self, kind: str, present: bool) -> None:
        """A fault that lasts (a server away, a full disk): counted when it appears, not while it stays."""
        with self._faults_lock:
            if present and kind not in self._faults_present:
                self._faults_present.add(kind)
                self.faults.labels(kind).inc()
            elif not present:
                self._faults_present.discard(kind)

    def observe_job(self, job: Job) -> None:
        """Called by the worker when a job ends."""
        self.jobs_finished.labels(str(job.status)).inc()
        timings: dict[str, Any] = (job.result or {}).get("timings") or {}
        for stage in Timings.model_fields:
            value = timings.get(stage)
            if isinstance(value, int | float) and value > 0:
                self.render_stage.labels(stage).observe(float(value))

    def exposition(
        self,
        *,
        counts: dict[str, int],
        depth: int,
        capacity: int,
        worker: bool,
        models: bool,
        queued_by_principal: dict[str, int] | None = None,
        ready: bool | None = None,
    ) -> bytes:
        """The exposition text, with the store-derived gauges refreshed first."""
        for status, n in counts.items():
            self.jobs.labels(status).set(n)
        self.principal_queued.clear()
        for name, n in (queued_by_principal or {}).items():
            self.principal_queued.labels(name).set(n)
        self.queue_depth.set(depth)
        self.queue_capacity.set(capacity)
        self.worker_alive.set(1 if worker else 0)
        self.models_loaded.set(1 if models else 0)
        if ready is not None:
            self.ready.set(1 if ready else 0)
        return generate_latest(self.registry)
