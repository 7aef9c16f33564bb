"""The render worker as a Ray Serve deployment: what runs inside each replica.

A replica loads one `RenderService` (one pipeline: on its GPU, or on CPU) from the settings the
API deployed it with; its style library is the shared one on the Chroma server, so a style added
through any API process is there, image and cached IP-Adapter embeddings included. `render` is a
streaming generator: `{"replica": id}`, then `{"progress": [step, total]}` per step and
`{"preview": [step, PNG bytes]}` every `S2R_PREVIEW_EVERY` steps (a ~256 px TAESD image), then
`{"result": {"recipe", "images" (PNG bytes carrying the recipe), "control"}}` or, for a problem we
can explain, `{"error": {"type", "code", "message", "field"}}`. When the caller cancels the
request (or goes away), Serve cancels the generator and the render stops at its next step.

`build_app` turns settings into the Serve application: one replica per GPU where the cluster has
GPUs, else small CPU replicas; autoscaling between `S2R_RAY_MIN_REPLICAS` and
`S2R_RAY_MAX_REPLICAS` at `S2R_RAY_TARGET_ONGOING` requests per replica; one render at a time per
replica (`max_ongoing_requests=1`) and at most `S2R_RAY_MAX_QUEUED` requests waiting per handle.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from ..config import Settings
from ..errors import S2RError
from ..render.outputs import encode_render
from ..render.ports import RenderControls
from ..render.service import build_service
from ..schemas import RenderParams

APP_NAME = "sketch2render"
DEPLOYMENT_NAME = "RenderWorker"
MAX_ONGOING = 1  # a replica owns one pipeline on one device: one render at a time


class RenderWorker:
    """One replica. Built by Ray Serve with the API's settings (the shared Chroma URL included)."""

    def __init__(self, settings: Settings) -> None:
        from ray import serve

        self.replica_id = serve.get_replica_context().replica_id.to_full_id_str()
        self.service = build_service(settings)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2r-render")

    def info(self) -> dict[str, Any]:
        return {**self.service.info(), "replica": self.replica_id}

    async def render(self, sketch: bytes, params: dict[str, Any], principal: str = "") -> AsyncIterator[dict[str, Any]]:
        """`principal`: the job's owner, whose corrections retrieval learns from (the shared feedback store)."""
        yield {"replica": self.replica_id}
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def progress(step: int, total: int) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, {"progress": [int(step), int(total)]})

        def preview(step: int, image) -> None:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            loop.call_soon_threadsafe(updates.put_nowait, {"preview": [int(step), buffer.getvalue()]})

        # The render runs in a thread, so this loop stays free for Serve (health checks, cancel).
        controls = RenderControls(progress, cancel, preview)
        task = loop.run_in_executor(self._thread, self._render, sketch, params, principal, controls)
        try:
            while not task.done() or not updates.empty():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            yield await task
        finally:
            cancel.set()  # cancelled by the caller, or the caller went away: stop at the next step

    def _render(self, sketch: bytes, params: dict[str, Any], principal: str, controls: RenderControls) -> dict:
        try:
            result = self.service.render(
                sketch, RenderParams.model_validate(params), controls=controls, principal=principal
            )
        except S2RError as exc:
            return {"error": {"type": type(exc).__name__, "code": exc.code, "message": exc.message, "field": exc.field}}
        return {"result": asdict(encode_render(result))}


def use_gpus(settings: Settings) -> bool:
    """GPU replicas when asked for, or (device auto) when the cluster has GPUs."""
    if settings.device != "auto":
        return settings.device == "cuda"
    import ray

    return ray.cluster_resources().get("GPU", 0) >= 1


def build_app(settings: Settings, *, gpus: bool, replica_cpus: float = 1.0):
    """The Serve application (bound, not yet running) for these settings."""
    from ray import serve

    actor_options: dict[str, Any] = {"num_cpus": replica_cpus}
    if gpus:
        actor_options["num_gpus"] = 1
    if settings.ray_resources:  # pinned to the nodes that offer them (S2R_RAY_RESOURCES)
        actor_options["resources"] = dict(settings.ray_resources)
    low, high = settings.ray_min_replicas, max(settings.ray_max_replicas, settings.ray_min_replicas)
    deployment = serve.deployment(
        RenderWorker,
        name=DEPLOYMENT_NAME,
        ray_actor_options=actor_options,
        max_ongoing_requests=MAX_ONGOING,
        max_queued_requests=settings.ray_max_queued,
        autoscaling_config={
            "min_replicas": low,
            "initial_replicas": max(low, 1),
            "max_replicas": high,
            "target_ongoing_requests": settings.ray_target_ongoing,
        },
    )
    return deployment.bind(settings)
