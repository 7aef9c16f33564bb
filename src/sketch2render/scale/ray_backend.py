"""`S2R_BACKEND=ray` in the API process: jobs render on the Ray Serve deployment of ray_worker.py.

The API's job store stays the source of truth; only *how* a job runs changes:
- `RayExecutor` (a jobs `Executor`): packs a job (a render, an edit or an upscale) with everything it
  needs, its styles retrieved here (shipping.py), sends it to the deployment, relays its progress to
  the store, records the replica on the job, writes the outputs into the job folder through
  render/outputs.py, as a local run would (the HTTP routes serve them unchanged). A replica that dies mid-job
  is retried once (Serve routes to a live or restarted replica), then the job fails with the
  reason; Serve backpressure (`max_queued_requests`) means wait and retry, never fail; a
  cancelled job cancels its Serve request, which stops the render at its next step.
- `RayBackend`: the lifecycle. Start: the Chroma server (`S2R_CHROMA_URL`, or a child process
  under `S2R_HOME/chroma-server`), Ray (`S2R_RAY_ADDRESS`, or a small local instance), the
  styles-only service this process needs, the deployment; a pool of one job worker per replica
  slot. Stop: delete the app, shut down what we started.
This process never loads the diffusion pipeline: it keeps the retrieval model, the library and the
corrections; the replicas need no file of its data folder.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from .. import errors
from ..config import Settings
from ..jobs import Execution, Job, JobStore, JobWorkerPool
from ..models import ModelSet, ServedFamilies, resolve_served
from ..render.outputs import EncodedRender, write_render
from ..render.ports import PreviewFn, ProgressFn
from ..retrieval import HybridSearch, build_search
from ..styles import CLIPEmbeddings, StyleLibrary, build_embeddings, build_library
from .ray_health import ServeProbe, serve_problem
from .ray_worker import APP_NAME, MAX_ONGOING, build_app, use_gpus
from .replica_jobs import ReplicaJob
from .shipping import JobShipper

log = logging.getLogger("sketch2render.scale")

ATTEMPTS = 2  # a job whose replica dies is retried once
RETRY_DELAY_S = 1.0
BACKPRESSURE_DELAYS_S = (0.5, 10.0)  # first and longest wait when Serve's queue is full
CANCEL_POLL_S = 0.1
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024  # only sketches and finished PNGs pass through it


def domain_error(error: dict[str, Any]) -> errors.S2RError:
    """The replica's `{"error": ...}` as the same domain error in this process."""
    cls = getattr(errors, str(error.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.S2RError)):
        cls = errors.S2RError
    exc = cls(str(error.get("message") or "the render failed"), field=error.get("field"))
    exc.code = str(error.get("code") or exc.code)
    return exc


def _cancel_on(cancel: threading.Event, stream: Any) -> threading.Event:
    """Cancel the Serve request when the job is cancelled; set the returned event when done."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(CANCEL_POLL_S):
                if not done.is_set():
                    stream.cancel()
                return

    threading.Thread(target=watch, name="s2r-ray-cancel", daemon=True).start()
    return done


class RayExecutor:
    """Runs a job on the deployment behind `handle()` (None until it is deployed); ready only while
    `ready_when()` holds too (the cluster and the servers a render needs answer)."""

    def __init__(
        self,
        handle: Callable[[], Any],
        store: JobStore,
        shipper: Callable[[], JobShipper | None],
        *,
        retry_delay: float = RETRY_DELAY_S,
        ready_when: Callable[[], bool] | None = None,
    ) -> None:
        self._handle = handle
        self._shipper = shipper  # packs a job with its styles (None until the styles are loaded)
        self.store = store
        self.retry_delay = retry_delay
        self._ready_when = ready_when

    def ready(self) -> bool:
        return self._handle() is not None and (self._ready_when is None or self._ready_when())

    def execute(
        self,
        job: Job,
        job_dir: Path,
        *,
        progress: ProgressFn,
        cancel: threading.Event,
        preview: PreviewFn | None = None,
    ) -> Execution:
        """Progress and previews stream back from the replica as they happen."""
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import ReplicaUnavailableError

        handle, shipper = self._handle(), self._shipper()
        if handle is None or shipper is None:
            raise errors.ModelsUnavailable("the render workers are not deployed yet")
        request = shipper.job(job, job_dir)  # its inputs and its styles, retrieved here
        lost: list[str] = []
        for attempt in range(1, ATTEMPTS + 1):
            seen: dict[str, str] = {}
            try:
                result = self._attempt(handle, job.id, request, (progress, preview, shipper.keep), cancel, seen)
                break
            except (RayActorError, ReplicaUnavailableError) as exc:
                if cancel.is_set():
                    raise errors.Cancelled("the render was cancelled") from None
                lost.append(seen.get("replica", "a replica"))
                if attempt == ATTEMPTS:
                    raise errors.WorkerDied(
                        f"the render worker died during this job {len(lost)} times ({', '.join(lost)}): "
                        f"{type(exc).__name__}"
                    ) from None
                log.warning("render %s: worker %s died (%s); retrying", job.id, lost[-1], type(exc).__name__)
                if cancel.wait(self.retry_delay):
                    raise errors.Cancelled("the render was cancelled") from None
        saved = write_render(EncodedRender(**result), job_dir)
        return Execution(recipe=result["recipe"], images=len(saved.images))

    def _attempt(self, handle, job_id, request: ReplicaJob, relay, cancel, seen) -> dict[str, Any]:
        """One submission, waiting out Serve backpressure; the replica's result payload. `relay`: where
        the replica's updates go (progress, preview, the style embeddings it computed)."""
        from ray.serve.exceptions import BackPressureError, RequestCancelledError

        delay, longest = BACKPRESSURE_DELAYS_S
        while True:
            if cancel.is_set():
                raise errors.Cancelled("the render was cancelled")
            stream = handle.options(stream=True).run.remote(request)
            done = _cancel_on(cancel, stream)
            try:
                for chunk in stream:
                    if "replica" in chunk:
                        seen["replica"] = chunk["replica"]
                        self.store.set_worker(job_id, chunk["replica"])
                    elif "progress" in chunk:
                        relay[0](*chunk["progress"])
                    elif "preview" in chunk and relay[1] is not None:
                        step, png = chunk["preview"]
                        relay[1](step, Image.open(io.BytesIO(png)))
                    elif "embeds" in chunk:
                        relay[2](chunk["embeds"])
                    elif "error" in chunk:
                        raise domain_error(chunk["error"])
                    elif "result" in chunk:
                        return chunk["result"]
                raise errors.WorkerDied("the render worker ended the job without a result")
            except BackPressureError:
                log.info("render %s: the workers' queue is full; retrying in %.1fs", job_id, delay)
                if cancel.wait(delay):
                    raise errors.Cancelled("the render was cancelled") from None
                delay = min(delay * 2, longest)
            except RequestCancelledError:
                raise errors.Cancelled("the render was cancelled") from None
            finally:
                done.set()


class StylesService:
    """What this process loads in ray mode: the model profile, the retrieval embeddings and the
    shared style library; the API's render backend (api/backend.py's `RenderBackend`: library,
    search, models, info). It renders nothing: jobs go to the replicas."""

    def __init__(
        self,
        settings: Settings,
        models: ModelSet,
        embeddings: CLIPEmbeddings,
        library: StyleLibrary,
        search: HybridSearch,
        families: ServedFamilies | None = None,  # None: the one family of `models`
    ) -> None:
        self.settings = settings
        self.models = models
        self.embeddings = embeddings
        self.library = library
        self.search = search
        if families is None and models is not None:
            families = ServedFamilies.single(models)
        self.families = families
        self.device = "ray"

    @classmethod
    def build(cls, settings: Settings) -> StylesService:
        served = resolve_served(settings)  # the replicas load the renderers; this process checks requests
        models = served.entries[0].models
        embeddings = build_embeddings(settings, models)
        library = build_library(settings, embeddings)
        return cls(settings, models, embeddings, library, build_search(settings, library, models), served)

    def info(self) -> dict[str, Any]:
        default = self.families.default if self.families is not None else None
        return {
            "profile": self.models.profile,
            "smoke_test": self.models.smoke_test,
            "warning": self.models.warning,
            "device": self.device,
            "models": self.models.ids(),
            "family": default,
            "families": self.families.summaries() if self.families is not None else [],
        }


class RayBackend:
    """Chroma server + Ray + the deployment, brought up for the API and torn down at its shutdown.

    Everything runs in one long-lived thread: a local Ray instance's gcs_server and raylet are
    started with a parent-death signal that fires when the *thread* that started them ends, so
    the thread that calls `ray.init` must live as long as the instance (not the API's loader)."""

    def __init__(self, settings: Settings, store: JobStore, *, ready_when: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.slots = max(settings.ray_max_replicas, settings.ray_min_replicas, 1) * MAX_ONGOING
        self.handle: Any = None
        self._ready_when = ready_when  # the API's own checks (the Chroma server)
        self.shipper: JobShipper | None = None  # over the styles this process loads
        self.executor = RayExecutor(lambda: self.handle, store, lambda: self.shipper, ready_when=self._reachable)
        self.chroma: Any = None
        self.chroma_url = settings.chroma_url  # or the server started here
        self.probe = ServeProbe(self._ask)
        self._connected = False  # we called ray.init (else someone in this process already had)
        self._started_ray = False  # ... and it started a local instance (no S2R_RAY_ADDRESS)
        self._closing = threading.Event()
        self._up = threading.Event()
        self._outcome: tuple[Any, BaseException | None] = (None, None)
        self._owner: threading.Thread | None = None

    def local_resources(self) -> dict[str, float]:
        """What a private local Ray instance offers of the replicas' custom resources (S2R_RAY_RESOURCES):
        enough for every replica, so pinning never leaves a one-machine setup without workers."""
        replicas = max(self.settings.ray_max_replicas, self.settings.ray_min_replicas, 1)
        return {name: amount * replicas for name, amount in self.settings.ray_resources.items()}

    def make_worker(self, **options: Any) -> JobWorkerPool:
        return JobWorkerPool(self.store, self.executor, slots=self.slots, **options)

    def problem(self) -> str | None:
        """Why jobs cannot go to the cluster now (None before the app is deployed, and while it runs)."""
        return self.probe.problem() if self.handle is not None else None

    def _reachable(self) -> bool:
        return self.problem() is None and (self._ready_when is None or self._ready_when())

    def _ask(self) -> str | None:
        """On the probe's thread: a new handle when the app is back after it was gone."""
        problem = serve_problem(APP_NAME)
        if problem is None and self.probe.last is not None and self.handle is not None and not self._closing.is_set():
            from ray import serve

            self.handle = serve.get_app_handle(APP_NAME)  # the app was redeployed
        return problem

    def start(self, service: Any = None) -> Any:
        """Blocking (the API's loader thread): the service this process uses (styles only), once
        the workers are deployed."""
        self._owner = threading.Thread(target=self._own, args=(service,), name="s2r-ray-backend", daemon=True)
        self._owner.start()
        self._up.wait()
        service, error = self._outcome
        if error is not None:
            raise error
        return service

    def stop(self, timeout: float = 60.0) -> None:
        self._closing.set()
        self.handle = None
        if self._owner is not None:
            self._owner.join(timeout)

    # --- the owner thread ------------------------------------------------------------------
    def _own(self, service: Any) -> None:
        try:
            self._outcome = (self._bring_up(service), None)
        except BaseException as exc:  # handed to start(), which raises it in the loader
            self._outcome = (None, exc)
        finally:
            self._up.set()
        self._closing.wait()
        self._tear_down()

    def _check(self) -> None:
        if self._closing.is_set():
            raise errors.ModelsUnavailable("the server is shutting down")

    def _bring_up(self, service: Any) -> Any:
        settings = self.settings
        if not settings.chroma_url:
            from .chroma_server import ChromaServer

            self.chroma = ChromaServer(settings.home / "chroma-server")
            self.chroma_url = self.chroma.start()
            settings = settings.model_copy(update={"chroma_url": self.chroma_url})
        self._check()
        service = service or StylesService.build(settings)  # creates the shared collections first
        self.shipper = JobShipper(service.library, service.search, self.settings)
        self._check()
        self._connect(settings)
        self._check()
        gpus = use_gpus(settings)
        from ray import serve

        handle = serve.run(build_app(settings, gpus=gpus), name=APP_NAME, route_prefix=None)
        kind = "GPU" if gpus else "CPU"
        if isinstance(service, StylesService):
            service.device = f"ray: {settings.ray_min_replicas}-{settings.ray_max_replicas} {kind} replicas"
        log.info("Ray Serve app %r deployed (%s replicas)", APP_NAME, kind)
        self._check()
        self.handle = handle
        return service

    def _connect(self, settings: Settings) -> None:
        # Read when ray is imported. Ray's crash-signal handler in this process turns uvicorn's
        # graceful SIGTERM into an abort at ray.shutdown() (the API handles SIGTERM itself); and
        # Serve's handle threads, still ticking after ray.shutdown(), must not start a new Ray.
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
        import ray
        from ray import serve

        if not ray.is_initialized():
            if settings.ray_address:
                ray.init(address=settings.ray_address, log_to_driver=False)
            else:
                ray.init(  # "local": a new instance, never one that happens to run on this machine
                    address="local",
                    num_cpus=max(os.cpu_count() or 1, self.slots),
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    log_to_driver=False,
                    resources=self.local_resources(),
                )
                self._started_ray = True
            self._connected = True
        serve.start(proxy_location="Disabled")  # we call the deployment through handles only

    def _tear_down(self) -> None:
        self.handle = None
        try:
            import ray
            from ray import serve

            if ray.is_initialized():
                if self._started_ray:
                    serve.shutdown()
                else:
                    serve.delete(APP_NAME)
                if self._connected:
                    ray.shutdown()
        except Exception:
            log.exception("could not shut the Ray backend down cleanly")
        finally:
            if self.chroma is not None:
                self.chroma.stop()
