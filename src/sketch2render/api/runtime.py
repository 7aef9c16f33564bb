"""What a running app holds: settings, the render backend (loaded in the background) with its
style library and model set, the job store, the worker and the metrics. Started and stopped by
the app's lifespan.

Models load in a thread so the process answers `/livez` at once and `/readyz` says when it can
render; jobs submitted meanwhile wait in the queue. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from .. import errors, storage
from ..config import Settings
from ..jobs import Job, JobStore, JobWorker, LocalExecutor, deferred_scores
from ..jobs.decoded_sketches import DecodedSketches
from ..jobs.events import JobEvents
from ..jobs.implicit import record_implicit
from ..models import ServedFamilies, resolve_served
from ..render.service import RenderService, build_service
from ..retrieval import HybridSearch
from ..scale.ray_health import GONE
from ..schemas import RenderParams
from ..styles import StyleLibrary
from ..styles.chroma_link import ChromaHeartbeat
from ..styles.defaults import import_bundled_once
from .backend import RenderBackend
from .metrics import (
    CHROMA_UNREACHABLE,
    CLAIM_FAILED,
    DISK_FULL,
    RAY_UNREACHABLE,
    READ_ONLY,
    RENDER_TIMEOUT,
    ApiMetrics,
)
from .readiness import Check, chroma_problem, claim_problem, run_checks

if TYPE_CHECKING:
    from ..jobs.notify import EventBridge
    from ..models import ModelSet
    from ..scale.ray_backend import RayBackend

log = logging.getLogger("sketch2render.api")


def _served(settings: Settings) -> ServedFamilies | None:
    """The served families as S2R_MODELS names them, resolved without building or loading anything
    (None when they do not resolve: the model loader reports why)."""
    try:
        return resolve_served(settings, build=False)
    except errors.S2RError:
        return None


LOAD_RETRY_S = (1.0, 30.0)  # first and longest wait before loading again while the Chroma server is away
SMOKE_TEST_WARNING = "SMOKE-TEST MODELS (tiny/random weights): images are noise, not renders."


class ApiRuntime:
    """`service` is None until the backend is loaded; `library`, `search` and `models` are its style
    library, the search over it and its model set, set just before it (`models` stays None for a
    stand-in without a model set)."""

    def __init__(self, settings: Settings, components: RenderBackend | None = None, *, shutdown_grace: float = 8.0):
        self.settings = settings
        self.shutdown_grace = shutdown_grace
        self.metrics = ApiMetrics()
        self.events = JobEvents()  # status, progress and previews pushed to event streams
        self.service: RenderBackend | None = None
        self.library: StyleLibrary | None = None
        self.search: HybridSearch | None = None
        self.models: ModelSet | None = None
        self.families: ServedFamilies | None = None  # what S2R_MODELS serves (known before the models load)
        if components is not None:
            self.use(components)
        self.load_error: str | None = None
        self.store: JobStore | None = None
        self.worker: JobWorker | None = None
        self.ray: RayBackend | None = None  # scale-out: the Ray backend when S2R_BACKEND=ray (scale/ray_backend.py)
        self._built: RenderService | None = None  # the service this runtime built (closed at stop)
        self.stopping = threading.Event()  # set on SIGTERM / shutdown: take no new jobs
        self.sketches = DecodedSketches(enabled=settings.caches == "on")  # the POST's decoded sketches, for the worker
        self._loader: threading.Thread | None = None
        self._heartbeat: ChromaHeartbeat | None = None  # the Chroma server's, once its URL is known
        self.bridge: EventBridge | None = None  # job events to and from the other API processes (PostgreSQL)
        # What /readyz checks beyond loading, the worker, the queue and shutdown (readiness.py).
        self.checks: list[Check] = [
            Check(CLAIM_FAILED, lambda: claim_problem(self.worker)),
            Check(DISK_FULL, lambda: storage.low_space_problem(self.settings)),
            Check(READ_ONLY, lambda: storage.write_problem_of(self.settings)),
            Check(CHROMA_UNREACHABLE, lambda: chroma_problem(self.chroma_heartbeat())),
            Check(RAY_UNREACHABLE, lambda: self.ray.problem() if self.ray is not None else None),
        ]

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        self.stopping.clear()
        self.store = JobStore(
            s.store_url(s.jobs_db),
            s.renders_dir,
            queue_max=s.queue_max,
            max_history=s.max_history,
            owner_max=s.queue_max_per_principal,
            live_sessions_max=s.live_sessions_max,
        )
        if self.service is None and self.families is None:  # known before the models load (a backend handed
            self.families = _served(s)  # in says its own, or none: then any family goes to it)
        recovered = self.store.recover()
        deferred_scores.clear_stale(self.store)  # scores being computed when the server stopped will not come
        if any(recovered.values()):
            log.warning("recovered after an unclean stop: %(requeued)d re-queued, %(failed)d failed", recovered)
        # --- scale-out: with S2R_BACKEND=ray jobs render on Ray Serve replicas, several at once ---
        if s.backend == "ray":
            from ..scale.ray_backend import RayBackend

            self.ray = RayBackend(s, self.store, ready_when=self.dependencies_up)
            self.worker = self.ray.make_worker(on_finished=self._finished, events=self.events, limits=s.job_limits)
        else:
            self.worker = JobWorker(
                self.store,
                LocalExecutor(lambda: self.service, self.sketches, ready_when=self.dependencies_up),
                on_finished=self._finished,
                events=self.events,
                limits=s.job_limits,
            )
        # --- end scale-out ---
        self._bridge_processes()
        self.worker.start()
        if self.service is None or self.ray is not None:
            self._loader = threading.Thread(target=self._load, name="s2r-model-loader", daemon=True)
            self._loader.start()
        else:
            self._announce()

    # --- several API processes on one PostgreSQL database (jobs/notify.py) ---------------------
    def _bridge_processes(self) -> None:
        """With `S2R_DATABASE_URL`, job events reach every API process on the database, and a cancel
        asked of any of them stops the render where it runs. Nothing on SQLite (one process)."""
        url = self.settings.database_url
        if not url or not url.startswith(("postgresql", "postgres:")):
            return
        from ..jobs.notify import EventBridge

        worker = self.worker
        self.bridge = EventBridge(url, self.events, on_cancel=worker.stop_render if worker else None).start()

    def _queue_depth(self) -> tuple[int, str | None]:
        """Jobs waiting, and why the job database cannot say (None while it answers)."""
        if self.store is None or self.store.closed:
            return 0, None
        try:
            return self.store.depth(), None
        except Exception as exc:  # the database is away: readiness says so instead of failing
            translated = storage.translate(exc)
            return 0, f"job database unreachable: {translated.message if translated else type(exc).__name__}"

    def _unbridge_processes(self) -> None:
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            bridge.stop()

    def _finished(self, job: Job) -> None:
        """After each job: metrics, and what a render with picked styles teaches retrieval."""
        self.metrics.observe_job(job)
        if job.error_code == RENDER_TIMEOUT:
            self.metrics.fault(RENDER_TIMEOUT)
        record_implicit(self.search, job)

    def use(self, service: RenderBackend) -> None:
        """Serve with `service`: its library, search and models first, then the service itself
        (which says the backend is ready)."""
        self.library = service.library
        self.search = service.search
        self.models = service.models
        self.families = getattr(service, "families", None) or self.families
        self.service = service

    def _load(self) -> None:
        delay = LOAD_RETRY_S[0]
        while True:
            try:
                self.use(self._build())
                break
            except errors.ChromaUnavailable as exc:  # the styles' server is not up (yet): try again
                self.load_error = exc.message
                self._close_built()
                if self.ray is not None or self.stopping.wait(delay):  # the Ray backend starts once
                    log.error("could not load the models: %s", exc.message)
                    return
                log.warning("%s; trying again in %.0fs", exc.message, delay)
                delay = min(delay * 2, LOAD_RETRY_S[1])
            except errors.S2RError as exc:
                self.load_error = exc.message
                log.error("could not load the models: %s", exc.message)
                return
            except Exception as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("could not load the models")
                return
        self.load_error = None
        self._announce()
        if self.worker:
            self.worker.notify()

    def _build(self) -> RenderBackend:
        service: RenderBackend
        if self.ray is not None:  # scale-out: deploy the workers; this process keeps the styles
            service = self.ray.start(self.service)
        else:
            service = self._built = build_service(self.settings)  # closed at stop (not one handed in)
        if self.settings.bundled_styles:  # a new data folder starts with the bundled styles
            added = import_bundled_once(service.library, self.settings.styles_dir)
            if added:
                log.info("new style library: imported %d bundled public-domain styles", added)
        if service.search.learning is not None:  # the sentence model loads here, not in the first search
            service.search.learning.warm_up()
        return service

    def _announce(self) -> None:
        info = self.info()
        log.info("models ready: profile %s on %s", info.get("profile"), info.get("device"))
        if info.get("warning"):
            log.warning("%s", info["warning"])

    def begin_shutdown(self) -> None:
        """First signal of a shutdown (SIGTERM): refuse new jobs, end event streams."""
        self.stopping.set()
        self.events.wake_all()

    def stop(self) -> None:
        self.begin_shutdown()
        if self.worker:
            self.worker.stop(self.shutdown_grace)
        self._unbridge_processes()
        if self.ray:  # scale-out: delete the Serve app, stop what it started
            self.ray.stop()
        if self.store:
            self.store.close()
        self._close_built()

    def _close_built(self) -> None:
        built, self._built = self._built, None
        if built is not None:
            built.search.close()
            built.library.close()

    # --- state ----------------------------------------------------------------------------
    def _family_summaries(self) -> list[dict]:
        """Each served family, before the service can say which are loaded."""
        return self.families.summaries() if self.families is not None else []

    def family_summaries(self) -> list[dict]:
        """What `GET /v1/families` lists: each served family, which is the default, which is loaded."""
        service = self.service
        return (self.info(service).get("families") if service is not None else None) or self._family_summaries()

    def info(self, service: RenderBackend | None = None) -> dict[str, Any]:
        """The service's model info, with a loud warning whenever the weights are not real."""
        service = service or self.service
        if service is None:
            return {"profile": None, "smoke_test": None, "warning": None, "device": None, "models": {}}
        info = dict(service.info())
        if info.get("smoke_test") and not info.get("warning"):
            info["warning"] = SMOKE_TEST_WARNING
        return info

    def chroma_heartbeat(self) -> ChromaHeartbeat | None:
        """The heartbeat of the Chroma server the styles live on: S2R_CHROMA_URL, or the one the Ray
        backend started; None with an on-disk library."""
        url = self.settings.chroma_url or (self.ray.chroma_url if self.ray is not None else None)
        if not url:
            return None
        if self._heartbeat is None or self._heartbeat.url != url.rstrip("/"):
            self._heartbeat = ChromaHeartbeat(url)
        return self._heartbeat

    def dependencies_up(self) -> bool:
        """The servers a render needs answer (the worker claims a job only then: queued jobs wait)."""
        problem = chroma_problem(self.chroma_heartbeat())
        self.metrics.observe_fault(CHROMA_UNREACHABLE, problem is not None)
        return problem is None

    def require_dependencies(self) -> None:
        """A 503 naming the server a new render needs that does not answer: new renders fail fast,
        jobs already queued wait for it (`dependencies_up`)."""
        if (problem := chroma_problem(self.chroma_heartbeat())) is not None:
            raise errors.ChromaUnavailable(problem)
        if self.ray is not None and (problem := self.ray.problem()) is not None and problem.startswith(GONE):
            raise errors.RayUnavailable(problem)  # away; an app replacing a replica still takes jobs

    def choose_family(self, params: RenderParams) -> tuple[RenderParams, ModelSet | None]:
        """The request's family (422 naming `family` when unknown or not served; 503 when its weights are
        missing), a parameter it cannot honour refused (422 naming it), the family's defaults filled
        in; and the model set that will render it (None: a stand-in backend without one)."""
        if self.families is None:
            return params, self.models
        entry, params = self.families.for_request(params)
        return params, entry.models

    def require_service(self) -> RenderBackend:
        if self.service is None:
            if self.load_error:
                raise errors.ModelsUnavailable(f"the models failed to load: {self.load_error}")
            raise errors.ModelsUnavailable("the models are still loading; retry in a moment")
        return self.service

    def require_library(self) -> StyleLibrary:
        if self.library is None:
            self.require_service()  # the 503 saying why (loading, or failed to load)
            raise errors.ModelsUnavailable("the style library is not loaded yet")
        return self.library

    def require_search(self) -> HybridSearch:
        if self.search is None:
            self.require_service()  # the 503 saying why (loading, or failed to load)
            raise errors.ModelsUnavailable("the style search is not loaded yet")
        return self.search

    def require_store(self) -> JobStore:
        if self.store is None or self.store.closed:
            raise errors.ModelsUnavailable("the job store is not open (starting up or shutting down)")
        return self.store

    def require_worker(self) -> JobWorker:
        if self.worker is None:
            raise errors.ModelsUnavailable("the job worker is not running")
        return self.worker

    def readiness(self) -> dict[str, Any]:
        service = self.service  # one snapshot: the loader thread may set it meanwhile
        info = self.info(service)
        depth, database_problem = self._queue_depth()
        worker_alive = bool(self.worker and self.worker.alive)
        queue_full = depth >= self.settings.queue_max
        reasons = []
        if service is None:
            reasons.append(f"models failed to load: {self.load_error}" if self.load_error else "models loading")
        if not worker_alive:
            reasons.append("job worker not running")
        if queue_full:
            reasons.append("queue full")
        if database_problem:
            reasons.append(database_problem)
        if self.stopping.is_set():
            reasons.append("shutting down")
        faults = run_checks(self.checks, self.metrics)  # the worker's claims, the disk, the servers it needs
        reasons += faults.values()
        return {
            "ready": not reasons,
            "reasons": reasons,
            "faults": list(faults),
            "profile": info.get("profile"),
            "smoke_test": info.get("smoke_test"),
            "warning": info.get("warning"),
            "device": info.get("device"),
            "models_loaded": service is not None,
            "family": self.families.default if self.families is not None else None,
            "families": info.get("families") or self._family_summaries(),
            "worker_alive": worker_alive,
            "queue": {"depth": depth, "max": self.settings.queue_max, "full": queue_full},
        }
