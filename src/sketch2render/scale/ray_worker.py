"""The render worker as a Ray Serve deployment: what runs inside each replica.

A replica loads the renderers and the quality scorer from its own node (replica_renderer.py) and needs no
file of the API's: each job arrives whole (replica_jobs.py: the sketch or the parent image, masks, the
parameters, the styles retrieved by the API process with their images and embeddings). `run` is a streaming
generator: `{"replica": id}`, then `{"progress": [step, total]}` per step and `{"preview": [step, PNG bytes]}`
every `S2R_PREVIEW_EVERY` steps of a render (a ~256 px TAESD image), then `{"embeds": [ShippedEmbeds]}` when
it computed style embeddings the API may keep, then `{"result": {"recipe", "images" (PNG bytes carrying the
recipe), "control"}}` or, for a problem we can explain, `{"error": {"type", "code", "message", "field"}}`.
When the caller cancels the request (or goes away), Serve cancels the generator and the job stops at its
next step.

`build_app` turns settings into the Serve application: one replica per GPU where the cluster has
GPUs, else small CPU replicas; autoscaling between `S2R_RAY_MIN_REPLICAS` and
`S2R_RAY_MAX_REPLICAS` at `S2R_RAY_TARGET_ONGOING` requests per replica; one job at a time per
replica (`max_ongoing_requests=1`), at most `S2R_RAY_MAX_QUEUED` requests waiting per handle, and only on
nodes that offer the custom resources of `S2R_RAY_RESOURCES`.
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
from .replica_jobs import ReplicaJob
from .replica_renderer import ReplicaRenderer, node_settings

APP_NAME = "sketch2render"
DEPLOYMENT_NAME = "RenderWorker"
MAX_ONGOING = 1  # a replica owns one pipeline on one device: one job at a time


class RenderWorker:
    """One replica. Built by Ray Serve with the API's settings (this node's folders where it names its own)."""

    def __init__(self, settings: Settings) -> None:
        from ray import serve

        self.replica_id = serve.get_replica_context().replica_id.to_full_id_str()
        self.renderer = ReplicaRenderer.build(node_settings(settings))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2r-render")

    def info(self) -> dict[str, Any]:
        return {**self.renderer.info(), "replica": self.replica_id}

    async def run(self, job: ReplicaJob) -> AsyncIterator[dict[str, Any]]:
        """A render, an edit or an upscale, streamed (see the module docstring)."""
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

        # The job runs in a thread, so this loop stays free for Serve (health checks, cancel).
        controls = RenderControls(progress, cancel, preview)
        task = loop.run_in_executor(self._thread, self._run, job, controls)
        try:
            while not task.done() or not updates.empty():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            for chunk in await task:
                yield chunk
        finally:
            cancel.set()  # cancelled by the caller, or the caller went away: stop at the next step

    def _run(self, job: ReplicaJob, controls: RenderControls) -> list[dict[str, Any]]:
        try:
            outcome = self.renderer.run(job, controls)
        except S2RError as exc:
            return [
                {"error": {"type": type(exc).__name__, "code": exc.code, "message": exc.message, "field": exc.field}}
            ]
        done: list[dict[str, Any]] = [{"embeds": outcome.computed}] if outcome.computed else []
        return [*done, {"result": asdict(encode_render(outcome.result))}]


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
