"""Request-to-image time through a running API, for the GPU benchmark's rows `api-quality`,
`api-fast` and `api-live`: the API as a child process on the same models and device (its own
data folder, one style added, so every render runs ControlNet + IP-Adapter), then POST a 512²
sketch → poll the job until it succeeded → GET the image, timed end to end from the client.
The difference to the model-time rows is what the service adds around the model.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, stats_ms
from .server import ApiServer

TERMINAL = {"succeeded", "failed", "cancelled"}


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _timed_render(client, sketch: bytes, fields: dict[str, str]) -> float:
    t0 = time.perf_counter()
    response = client.post("/v1/renders", data=fields, files={"sketch": ("sketch.png", sketch, "image/png")})
    if response.status_code != 202:
        raise RuntimeError(f"POST /v1/renders answered {response.status_code}: {response.text[:300]}")
    job_id = response.json()["id"]
    while (job := client.get(f"/v1/renders/{job_id}").json())["status"] not in TERMINAL:
        time.sleep(0.002)
    if job["status"] != "succeeded":
        raise RuntimeError(f"render ended {job['status']}: {job.get('error')}")
    image = client.get(f"/v1/renders/{job_id}/image")
    if image.status_code != 200:
        raise RuntimeError(f"GET image answered {image.status_code}")
    return time.perf_counter() - t0


def measure_api(folder: Path, device: str, sketch_image, style_image, *, prompt: str, resolution: int,
                warmup: int, runs: int, settings: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Rows `api-<speed>` for quality, fast and live (request to image, client side)."""
    import httpx

    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-gpu-api-") as tmp:
        with ApiServer(Path(tmp), str(folder), device=device, **(settings or {})) as server:
            ready = server.wait_ready(timeout=900)
            log(f"gpu: api ready in {ready['readyz_s']} s")
            with httpx.Client(base_url=server.url, timeout=600.0) as client:
                added = client.post("/v1/styles", data={"title": "bench style"},
                                    files={"image": ("style.png", _png(style_image), "image/png")})  # fmt: skip
                if added.status_code not in (200, 201):
                    raise RuntimeError(f"POST /v1/styles answered {added.status_code}: {added.text[:300]}")
                style_id = added.json()["id"]
                sketch = _png(sketch_image)
                for speed in ("quality", "fast", "live"):
                    fields = {"prompt": prompt, "speed": speed, "size": str(resolution), "style_ids": style_id}
                    try:
                        for i in range(warmup):
                            _timed_render(client, sketch, {**fields, "seed": str(i)})
                        times = [_timed_render(client, sketch, {**fields, "seed": str(1000 + i)}) for i in range(runs)]
                    except RuntimeError as exc:  # one failing preset must not hide the others
                        rows[f"api-{speed}"] = {"error": str(exc)[:500]}
                        continue
                    rows[f"api-{speed}"] = {"request_to_image": stats_ms(times), "startup_readyz_s": ready["readyz_s"]}
                    log(f"gpu: api-{speed}: p50 {rows[f'api-{speed}']['request_to_image']['p50_ms']} ms")
    return rows
