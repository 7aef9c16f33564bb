"""Sketches decoded once: the POST that validates an upload (decode under the limits, resize to the
render size, check it has lines) hands its resized image to the in-process worker, which then
skips decoding the same bytes again. Bounded by pixels (oldest dropped first). A job without one
(the server restarted, the entry was dropped, a Ray replica renders it) decodes its stored input
file exactly as before, so the render is the same either way: the POST decodes with the same
`at_least` and resizes with the same `resize_for_generation` the worker would use. Keyed by the
job's request hash (sketch bytes + parameters), known before the row exists, so a worker that
claims the row at once still finds it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from PIL import Image

MAX_PIXELS = 32_000_000  # ~96 MB of RGB: 32 sketches at 1024², 120 at 512²


class DecodedSketches:
    def __init__(self, max_pixels: int = MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self._pixels = 0
        self._lock = threading.Lock()

    def put(self, key: str, image: Image.Image) -> None:
        pixels = image.width * image.height
        if pixels > self.max_pixels:
            return
        with self._lock:
            self._drop(key)
            while self._images and self._pixels + pixels > self.max_pixels:
                self._drop(next(iter(self._images)))
            self._images[key] = image
            self._pixels += pixels

    def take(self, job_id: str) -> Image.Image | None:
        """The decoded sketch of a job, once (None when there is none)."""
        with self._lock:
            image = self._images.get(job_id)
            self._drop(job_id)
            return image

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._drop(job_id)

    def __len__(self) -> int:
        return len(self._images)

    def _drop(self, job_id: str) -> None:
        image = self._images.pop(job_id, None)
        if image is not None:
            self._pixels -= image.width * image.height
